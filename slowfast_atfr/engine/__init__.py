"""Training, testing and demo jobs: launch, train loop and hooks, test loop, demo."""
