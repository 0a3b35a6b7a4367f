"""Decoding files that cannot be taken at their word: headers that misstate the length or the
frame rate, rotated phone videos, cover art and thumbnail tracks, special files, bit rot."""

import os
import socket
import struct
import threading

import av
import numpy as np
import pytest
from dataset_helpers import all_frames, fixed_positions, gradient_video

from slowfast_atfr.datasets.decoder import DecodeError, decode_video
from slowfast_atfr.datasets.motion_clips import render_clip, write_video

# Header fields as (marker, bytes after the marker, struct format). FFmpeg's Matroska muxer
# writes the segment Duration as an 8-byte float (ms) and the track DefaultDuration (ns per
# frame) in 4 bytes; an AVI holds its frame count in avih.dwTotalFrames and strh.dwLength.
_MKV_DURATION = (b"\x44\x89\x88", 0, ">d")
_MKV_FRAME_DURATION = (b"\x23\xe3\x83\x84", 0, ">I")
_AVI_TOTAL_FRAMES = (b"avih", 4 + 16, "<I")
_AVI_LENGTH = (b"strh", 4 + 32, "<I")


def _scale_field(path, field, scale):
    """Multiply one header number of the file at `path` by `scale`, leaving the frames alone."""
    marker, offset, fmt = field
    data = bytearray(open(path, "rb").read())
    at = data.index(marker) + len(marker) + offset
    (value,) = struct.unpack_from(fmt, data, at)
    struct.pack_into(fmt, data, at, type(value)(value * scale))
    open(path, "wb").write(data)


def _header(path):
    with av.open(path) as container:
        stream = container.streams.video[0]
        return container.duration, stream.frames, stream.average_rate


@pytest.mark.parametrize(
    "ext, codec, fields, scale",
    [
        ("mkv", "libx264", [_MKV_DURATION], 0.25),
        ("mkv", "libx264", [_MKV_DURATION], 4),
        ("avi", "mpeg4", [_AVI_TOTAL_FRAMES, _AVI_LENGTH], 0.25),
        ("avi", "mpeg4", [_AVI_TOTAL_FRAMES, _AVI_LENGTH], 4),
        ("mkv", "libx264", [_MKV_FRAME_DURATION], 0.5),
    ],
    ids=["mkv_duration_short", "mkv_duration_long", "avi_frames_short", "avi_frames_long",
         "mkv_rate_double"],
)
def test_lying_headers_neither_move_nor_repeat_frames(tmp_path, caplog, ext, codec, fields,
                                                      scale):
    path = str(tmp_path / f"v.{ext}")
    gradient_video(path, frames=20, codec=codec)
    honest = _header(path)
    for field in fields:
        _scale_field(path, field, scale)
    assert _header(path) != honest
    ref = all_frames(path)
    assert len(ref) == 20
    seen = {}

    def sample_fn(num_frames, fps):
        seen.update(n=num_frames, fps=fps)
        return np.arange(0, num_frames, 3)

    with caplog.at_level("WARNING", logger="slowfast_atfr"):
        out = decode_video(path, sample_fn)
    assert seen["n"] == 20 and seen["fps"] == pytest.approx(30, rel=0.01)
    np.testing.assert_array_equal(out, np.stack(ref[::3]))
    assert path in caplog.text and "header declares" in caplog.text


@pytest.mark.parametrize("codec, ext", [("libx264", "mp4"), ("libvpx", "webm"), ("mpeg4", "avi"),
                                        ("libx264", "mkv")])
def test_honest_headers_are_not_reported(tmp_path, caplog, codec, ext):
    path = str(tmp_path / f"v.{ext}")
    gradient_video(path, frames=20, codec=codec)
    with caplog.at_level("WARNING", logger="slowfast_atfr"):
        decode_video(path, fixed_positions([0, 19]))
    assert "header" not in caplog.text


def _corner_clip(frames=8, height=16, width=32):
    """uint8 [T, H, W, 3]: a white top-left block on a background that brightens with t."""
    clip = np.repeat((np.arange(frames, dtype=np.uint8) * 20)[:, None, None, None], 3, axis=3)
    clip = np.ascontiguousarray(np.broadcast_to(clip, (frames, height, width, 3)))
    clip[:, : height // 2, : width // 4] = 255
    return clip


def _write_turned(path, clip, degrees, hflip):
    """Write `clip` with a display matrix: players show it turned `degrees` counter-clockwise,
    then mirrored left-right when `hflip` (PyAV's set_display_rotation)."""
    container = av.open(path, "w")
    stream = container.add_stream("libx264", rate=30)
    stream.width, stream.height, stream.pix_fmt = clip.shape[2], clip.shape[1], "yuv444p"
    stream.options = {"crf": "0", "g": "4"}
    stream.set_display_rotation(degrees, hflip=hflip)
    for image in clip:
        for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
            container.mux(packet)
    for packet in stream.encode():
        container.mux(packet)
    container.close()


@pytest.mark.parametrize("degrees, hflip", [(90, False), (-90, False), (180, False), (0, True),
                                            (90, True)])
def test_rotated_videos_come_out_upright(tmp_path, degrees, hflip):
    clip = _corner_clip()
    path = str(tmp_path / "phone.mp4")
    _write_turned(path, clip, degrees, hflip)
    out = decode_video(path, fixed_positions([1, 6]))
    expected = np.rot90(clip[[1, 6]], k=degrees // 90, axes=(1, 2))
    if hflip:
        expected = expected[:, :, ::-1]
    assert out.shape == expected.shape
    np.testing.assert_allclose(out, expected, atol=3)


def test_a_rotation_that_is_no_right_angle_is_refused(tmp_path):
    path = str(tmp_path / "tilted.mp4")
    _write_turned(path, _corner_clip(), 30, False)
    with pytest.raises(DecodeError, match="turns the picture by 30 degrees.*re-encode it upright"):
        decode_video(path, fixed_positions([0]))


def _encode(container, stream, images):
    for image in images:
        for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
            container.mux(packet)
    for packet in stream.encode():
        container.mux(packet)


def _with_still_stream(path, clip, cover):
    """Mux `clip` with a 16 px JPEG track: an attached cover picture in an mp4, which the moov
    box then lists before the video; a 2-frame thumbnail track ahead of the video in an mkv."""
    container = av.open(path, "w")
    still = container.add_stream("mjpeg", rate=1)
    still.width, still.height, still.pix_fmt = 16, 16, "yuvj420p"
    if cover:
        still.disposition = av.stream.Disposition.attached_pic
    video = container.add_stream("libx264", rate=30)
    video.width, video.height, video.pix_fmt = clip.shape[2], clip.shape[1], "yuv420p"
    _encode(container, still, np.full((1 if cover else 2, 16, 16, 3), 200, np.uint8))
    _encode(container, video, clip)
    container.close()
    if cover:  # put moov's udta (the cover) before its trak (the video): same bytes, new order
        data = open(path, "rb").read()
        moov = data.index(b"moov") - 4
        end = moov + struct.unpack_from(">I", data, moov)[0]
        boxes, at = [], moov + 8
        while at < end:
            boxes.append(data[at: at + struct.unpack_from(">I", data, at)[0]])
            at += len(boxes[-1])
        boxes.sort(key=lambda box: box[4:8] != b"udta")
        open(path, "wb").write(data[: moov + 8] + b"".join(boxes) + data[end:])


@pytest.mark.parametrize("ext, cover", [("mp4", True), ("mkv", False)], ids=["cover", "thumbnail"])
def test_the_video_stream_is_decoded_not_a_cover_or_thumbnail(tmp_path, ext, cover):
    clip = np.ascontiguousarray(_corner_clip(frames=10))
    path = str(tmp_path / f"v.{ext}")
    _with_still_stream(path, clip, cover)
    with av.open(path) as container:
        assert container.streams.video[0].width == 16  # the still comes first
    ref = all_frames(path, video=1)
    out = decode_video(path, fixed_positions([0, 4, 9]))
    np.testing.assert_array_equal(out, np.stack([ref[0], ref[4], ref[9]]))


def _special_file(tmp_path, kind):
    if kind == "fifo":
        path = str(tmp_path / "v.mp4")
        os.mkfifo(path)
    elif kind == "socket":
        path = str(tmp_path / "v.sock")
        server = socket.socket(socket.AF_UNIX)
        server.bind(path)
        server.close()
    elif kind == "device":
        path = os.devnull
    else:
        path = str(tmp_path / "v")
        os.mkdir(path)
    return path


@pytest.mark.parametrize(
    "kind, says",
    [
        ("fifo", "is a named pipe (FIFO), not a video file"),
        ("socket", "is a socket, not a video file"),
        ("device", "is a character device, not a video file"),
        ("folder", "is a folder, not a video file: set DATA.USE_FRAMES True"),
    ],
)
def test_special_files_are_named_and_never_block(tmp_path, kind, says):
    path = _special_file(tmp_path, kind)
    errors = []

    def decode():
        try:
            decode_video(path, fixed_positions([0]))
        except DecodeError as e:
            errors.append(e)

    reader = threading.Thread(target=decode, daemon=True)
    reader.start()
    reader.join(timeout=10)
    if reader.is_alive():  # let the blocked reader go before failing
        os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK))
        pytest.fail(f"decode_video blocked on a {kind}")
    assert len(errors) == 1 and errors[0].path == path
    assert says in errors[0].reason and "list the video file itself" in errors[0].reason


@pytest.mark.parametrize("codec, ext", [("libx264", "mp4"), ("mpeg4", "avi")])
def test_bit_rot_mid_file_is_refused_as_damaged(tmp_path, codec, ext):
    path = str(tmp_path / f"v.{ext}")
    write_video(path, render_clip("fast_motion", np.random.default_rng(0), 16, 48), codec=codec)
    with av.open(path) as container:
        packets = sorted((p.pts, p.pos, p.size) for p in container.demux(video=0) if p.size)
    _, pos, size = packets[len(packets) // 2]
    data = bytearray(open(path, "rb").read())
    data[pos + 8: pos + size] = np.random.default_rng(0).bytes(size - 8)  # keep the NAL length
    open(path, "wb").write(data)
    with pytest.raises(DecodeError) as info:
        decode_video(path, lambda num_frames, fps: np.arange(num_frames))
    assert info.value.path == path
    assert "damaged (bit rot" in info.value.reason and "re-download it" in info.value.reason
