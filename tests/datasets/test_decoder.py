"""PyAV decoding: exact frames after seeking, short/gray/odd videos, every bad input."""

import os
from fractions import Fraction

import av
import numpy as np
import pytest
from dataset_helpers import all_frames, fixed_positions, gradient_video

from slowfast_atfr.datasets.decoder import (
    DecodeError,
    decode_image_folder,
    decode_video,
    list_image_folder,
)
from slowfast_atfr.datasets.motion_clips import write_video
from slowfast_atfr.datasets.sample_videos import sample_video_paths


@pytest.mark.parametrize("path", [p for p in sample_video_paths() if "bigbuckbunny" not in p],
                         ids=os.path.basename)
def test_seek_decode_matches_full_decode(path):
    ref = all_frames(path)
    rng = np.random.default_rng(0)
    for _ in range(3):
        positions = np.sort(rng.integers(0, len(ref), 6))
        out = decode_video(path, fixed_positions(positions))
        assert out.shape == (6,) + ref[0].shape
        for k, p in enumerate(positions):
            np.testing.assert_array_equal(out[k], ref[p])


@pytest.mark.parametrize("codec, ext", [("libx264", "mp4"), ("libvpx", "webm"), ("mpeg4", "avi")])
def test_containers_give_the_frames_asked_for(tmp_path, codec, ext):
    path = str(tmp_path / f"v.{ext}")
    gradient_video(path, frames=20, codec=codec)
    ref = all_frames(path)
    assert len(ref) == 20
    out = decode_video(path, fixed_positions([3, 9, 9, 19]))
    for k, p in enumerate([3, 9, 9, 19]):
        np.testing.assert_array_equal(out[k], ref[p])


def test_sample_fn_sees_length_and_fps(tmp_path):
    path = str(tmp_path / "v.mp4")
    gradient_video(path, frames=12, fps=24)
    seen = {}

    def sample_fn(num_frames, fps):
        seen.update(n=num_frames, fps=fps)
        return np.arange(4)

    decode_video(path, sample_fn)
    assert seen == {"n": 12, "fps": 24.0}


def test_positions_past_the_end_repeat_the_last_frame(tmp_path):
    path = str(tmp_path / "short.mp4")
    gradient_video(path, frames=3)
    ref = all_frames(path)
    out = decode_video(path, fixed_positions([0, 2, 5, 9]))
    np.testing.assert_array_equal(out[3], ref[2])
    np.testing.assert_array_equal(out[2], ref[2])


def test_gray_and_odd_sized_videos_decode_to_rgb(tmp_path):
    gray = str(tmp_path / "gray.mkv")
    gradient_video(gray, frames=6, gray=True, codec="ffv1", pix_fmt="gray")
    out = decode_video(gray, fixed_positions([0, 5]))
    assert out.shape == (2, 32, 48, 3)
    assert (out[..., 0] == out[..., 1]).all()
    odd = str(tmp_path / "odd.mkv")
    gradient_video(odd, frames=6, height=31, width=45, codec="ffv1", pix_fmt="yuv444p")
    assert decode_video(odd, fixed_positions([1, 4])).shape == (2, 31, 45, 3)


def test_decoder_threads_give_the_same_frames(tmp_path):
    path = str(tmp_path / "v.mp4")
    gradient_video(path, frames=16)
    one = decode_video(path, fixed_positions([2, 7, 15]), threads=1)
    auto = decode_video(path, fixed_positions([2, 7, 15]), threads=0)
    np.testing.assert_array_equal(one, auto)


def _audio_only(path):
    container = av.open(path, "w")
    stream = container.add_stream("pcm_s16le", rate=8000)
    frame = av.AudioFrame.from_ndarray(np.zeros((1, 800), np.int16), format="s16", layout="mono")
    frame.sample_rate = 8000
    for packet in list(stream.encode(frame)) + list(stream.encode()):
        container.mux(packet)
    container.close()


def _no_frames(path):
    container = av.open(path, "w")
    stream = container.add_stream("mpeg4", rate=Fraction(30))
    stream.width, stream.height, stream.pix_fmt = 32, 32, "yuv420p"
    container.start_encoding()
    container.close()


def _make_bad(tmp_path, case):
    path = str(tmp_path / f"{case}.mp4")
    if case == "zero_bytes":
        open(path, "wb").close()
    elif case == "truncated":
        gradient_video(path, frames=12)
        data = open(path, "rb").read()
        open(path, "wb").write(data[: len(data) // 2])
    elif case == "corrupt":
        open(path, "wb").write(np.random.default_rng(0).bytes(4000))
    elif case == "no_video_stream":
        path = str(tmp_path / "audio.wav")
        _audio_only(path)
    elif case == "no_frame":
        path = str(tmp_path / "empty.avi")
        _no_frames(path)
    return path


@pytest.mark.parametrize(
    "case, reason",
    [
        ("missing", "does not exist"),
        ("zero_bytes", "empty"),
        ("truncated", "cannot open"),
        ("corrupt", "cannot open"),
        ("no_video_stream", "no video stream"),
        ("no_frame", "no decodable frame"),
    ],
)
def test_bad_inputs_raise_decode_error_with_path_and_reason(tmp_path, case, reason):
    path = _make_bad(tmp_path, case)
    with pytest.raises(DecodeError) as info:
        decode_video(path, fixed_positions([0, 1]))
    assert info.value.path == path
    assert reason in info.value.reason
    assert path in str(info.value)


def test_folder_of_images_decodes_like_the_video(tmp_path):
    clip = gradient_video(str(tmp_path / "unused.mp4"), frames=8)
    folder = tmp_path / "frames"
    folder.mkdir()
    write_video(str(folder / "%06d.png"), np.ascontiguousarray(clip), codec="png",
                pix_fmt="rgb24", container_format="image2")
    images = list_image_folder(str(folder))
    assert len(images) == 8 and images[0].endswith("000001.png")
    out = decode_image_folder(str(folder), fixed_positions([0, 3, 7, 20]), fps=30)
    np.testing.assert_array_equal(out[1], clip[3])
    np.testing.assert_array_equal(out[3], clip[7])


def test_empty_or_missing_frame_folder_raises(tmp_path):
    with pytest.raises(DecodeError, match="does not exist"):
        list_image_folder(str(tmp_path / "nope"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(DecodeError, match="no .* image"):
        list_image_folder(str(tmp_path / "empty"))


@pytest.mark.parametrize("fallback", ["no_time_stamps", "window_misses"])
def test_without_usable_time_stamps_frames_are_counted_by_decoding(tmp_path, monkeypatch,
                                                                     fallback):
    from slowfast_atfr.datasets import decoder

    path = str(tmp_path / "v.mp4")
    gradient_video(path, frames=10)
    ref = all_frames(path)
    name = "packet_times" if fallback == "no_time_stamps" else "_decode_window"
    monkeypatch.setattr(decoder, name, lambda *args: None)
    seen = []

    def sample_fn(num_frames, fps):
        seen.append((num_frames, fps))
        return np.array([num_frames - 2, num_frames - 1])

    out = decode_video(path, sample_fn)
    assert seen[-1] == (10, 30.0)
    np.testing.assert_array_equal(out[0], ref[8])
    np.testing.assert_array_equal(out[1], ref[9])
