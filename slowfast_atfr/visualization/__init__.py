"""The paper's figures from run outputs: plots (drawing), run_outputs (reading a run folder),
sgs_maps (Fig. A.5 from a model), report (all figures of runs or of a reproduce summary)."""
