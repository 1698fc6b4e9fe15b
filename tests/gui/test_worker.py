"""The GUI worker headless (no Qt): sources, play, pause, single step, reset, close."""

from __future__ import annotations

import socket
import threading
import time

import numpy as np
import pytest

from spikestream.gui.worker import Worker
from spikestream.streams.gestures import GESTURE_CLASSES

FINAL = ("ended", "error", "stopped")


def started(*args, **kwargs) -> Worker:
    return Worker(*args, **kwargs).start()


def test_plays_a_real_recording_and_predicts(busy_dvs128_files, dvs_model, no_thread_left):
    w = started(str(busy_dvs128_files[0]), dvs_model, "numba", "max")
    try:
        s = w.wait(lambda s: s.t_s >= 1.0 or s.state in FINAL, 60)
        assert s.state == "playing", s.message
        assert s.sensor_size == (128, 128) and s.dt_us == 1000
        assert s.seq >= 1000 and s.window_index == s.seq - 1
        assert s.events.shape == (128, 128, 3) and s.events.any()  # events visible
        assert s.name and (s.label is None or s.classes[s.label] == s.name)
        assert s.probs.shape == (11,) and round(float(s.probs.sum()), 4) in (0.0, 1.0)
        assert s.decisions and s.decisions[-1].name == s.name
        assert [a.name for a in s.layers] == ["conv1", "conv2"]
        assert all(a.rate.max() > 0 for a in s.layers)  # hidden layers spike
        assert len(s.latency_us) > 0 and s.latency_p50_us > 0
        assert s.dropped == 0 and not s.live and s.labelled is False
        with pytest.raises(ValueError):
            s.events[0, 0, 0] = 1  # snapshots are read-only
    finally:
        w.close()


def test_pause_and_single_step_advance_exactly_one_window(dvs128_files, dvs_model,
                                                          no_thread_left):
    w = started(str(dvs128_files[0]), dvs_model, "numba", "1", playing=False)
    try:
        s = w.wait(lambda s: s.state in ("paused", *FINAL), 30)
        assert s.state == "paused" and s.seq == 0
        time.sleep(0.2)
        assert w.latest().seq == 0  # paused: nothing stepped
        w.step()
        s = w.wait(lambda s: s.seq >= 1, 10)
        assert s.seq == 1 and s.window_index == 0
        w.step(3)
        s = w.wait(lambda s: s.seq >= 4, 10)
        time.sleep(0.2)
        s = w.latest()
        assert s.seq == 4 and s.window_index == 3 and s.state == "paused"
        w.play()
        s = w.wait(lambda s: s.seq > 20, 10)
        w.pause()
        s = w.wait(lambda s: s.state == "paused", 5)
        n = s.seq
        time.sleep(0.2)
        assert w.latest().seq == n  # pause holds
        w.step()
        assert w.wait(lambda s: s.seq > n, 5).seq == n + 1
    finally:
        w.close()


def test_reset_zeroes_the_network_state(dvs128_files, dvs_model, no_thread_left):
    w = started(str(dvs128_files[-1]), dvs_model, "numba", "max", playing=False)
    try:
        w.wait(lambda s: s.state == "paused", 30)
        w.step(200)
        w.wait(lambda s: s.seq >= 200, 20)
        engine = w.pipeline.engine
        assert any(np.abs(v).sum() > 0 for v in engine.snapshot().values())
        w.reset_state()
        s = w.wait(lambda s: s.state_resets >= 1, 5)
        assert s.state_resets == 1
        snap = engine.snapshot()
        assert all(not np.any(v) for k, v in snap.items() if not k.startswith("readout."))
        assert not snap["readout.smoothed"].any()
    finally:
        w.close()


def test_synthetic_camera_is_labelled(dvs_model, no_thread_left):
    w = started("synthetic://gesture?seed=1&duration_s=3", dvs_model, "numba", "max")
    try:
        s = w.wait(lambda s: s.state in FINAL, 60)
        assert s.state == "ended", s.message
        assert s.labelled and (s.timeline_true >= 0).any()
        seen = {s.label_names[k] for k in s.timeline_true if k >= 0}
        assert seen and seen <= set(GESTURE_CLASSES)
        assert s.seq > 2900 and s.t_s == pytest.approx(3.0, abs=0.01)
    finally:
        w.close()


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_udp_source_is_received_and_released(busy_dvs128_files, dvs_model, no_thread_left):
    from spikestream.streams import open_source
    from spikestream.streams.sender import send_events

    port = free_port()
    w = started(f"udp://127.0.0.1:{port}?sensor=128x128", dvs_model, "numba")
    stop = threading.Event()
    try:
        s = w.wait(lambda s: s.state in ("playing", *FINAL), 30)
        assert s.state == "playing" and s.live, s.message
        with open_source(busy_dvs128_files[0]) as rec:
            tx = threading.Thread(target=send_events, args=(rec,),
                                  kwargs={"port": port, "speed": 1.0, "stop": stop})
            tx.start()
            s = w.wait(lambda s: s.seq > 50, 20)
            stop.set()
            tx.join(10)
        assert s.seq > 50 and s.events.any()
    finally:
        w.close()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as again:
        again.bind(("127.0.0.1", port))  # EADDRINUSE if the worker kept the port


def test_camera_without_drivers_is_a_clear_error(dvs_model, no_thread_left):
    w = started("camera://", dvs_model)
    try:
        s = w.wait(lambda s: s.state in FINAL, 10)
        assert s.state == "error" and "driver" in s.error
    finally:
        w.close()


def test_model_for_another_sensor_is_a_clear_error(dvs128_files, no_thread_left):
    w = started(str(dvs128_files[0]), "nmnist-stbp")
    try:
        s = w.wait(lambda s: s.state in FINAL, 10)
        assert s.state == "error" and "expects 34x34" in s.error and "128x128" in s.error
    finally:
        w.close()


def test_open_switches_source_and_close_leaves_nothing(dvs128_files, dvs_model, gui_threads):
    w = started(str(dvs128_files[0]), dvs_model, "numba", "max")
    w.wait(lambda s: s.seq > 10, 30)
    w.open("synthetic://gesture?seed=2&duration_s=1", backend="torch")
    s = w.wait(lambda s: s.source.startswith("synthetic") and s.state in ("ended", "error"), 60)
    assert s.state == "ended" and s.backend == "torch" and s.seq > 900, s.message
    w.close()
    assert not w.alive and gui_threads() == []
    assert w.latest().state == "stopped"


def test_play_after_the_end_replays_from_the_beginning(dvs_model, no_thread_left):
    w = started("synthetic://gesture?seed=1&duration_s=0.3", dvs_model, "numba", "max")
    try:
        s = w.wait(lambda s: s.state in FINAL, 30)
        assert s.state == "ended" and s.seq > 250, s.message
        n, first = s.seq, s.events.copy()
        w.set_speed("1")  # the replay lasts 0.3 s of wall time: visible while it plays
        w.play()
        s = w.wait(lambda s: s.state == "playing" and 0 < s.seq < n, 30)
        assert s.state == "playing" and s.seq < n, s.message  # from the beginning
        s = w.wait(lambda s: s.state in FINAL, 30)
        assert s.state == "ended" and s.seq == n
        assert np.array_equal(s.events, first)  # the same stream again
    finally:
        w.close()
