"""Meters against hardware faked only at the library boundary: a powercap tree on disk, a pynvml module."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest

from harness import study as study_mod
from harness.config.meter import MeterUse
from harness.config.options import make
from harness.energy import CompositeMeter, EstimateMeter, Meter, NullMeter
from harness.energy.concurrency import ActiveJobs
from harness.energy.nvml import NvmlMeter
from harness.energy.rapl import RaplMeter, discover
from harness.errors import MeterUnavailable
from tests.conftest import TINY, run_cli
from tests.fakes import pynvml as fake_nvml
from tests.fakes.powercap import FakePowercap, PowerWriter

PACKAGE, DRAM = "package-0", "package-0/dram"


def busy(seconds: float) -> None:
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


@pytest.fixture
def tree(tmp_path) -> FakePowercap:
    return FakePowercap(tmp_path / "powercap")


@pytest.fixture
def nvml(monkeypatch):
    """Inject the fake pynvml where `import pynvml` finds it."""
    monkeypatch.setitem(sys.modules, "pynvml", fake_nvml)
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    fake_nvml.reset(
        [
            {"name": "Tesla V100", "uuid": "GPU-aaa", "power_w": 200.0, "counter": True, "limit_w": 300.0},
            {
                "name": "GeForce GTX 1080",
                "uuid": "GPU-bbb",
                "power_w": 120.0,
                "counter": False,
                "limit_w": 180.0,
            },
        ]
    )
    return fake_nvml


# --------------------------------------------------------------------------------------------------
# RAPL


def test_discover_reads_packages_and_dram_only(tmp_path):
    tree = FakePowercap(tmp_path / "pc", packages=2)
    zones = discover(tree.root)
    assert [(z.name, z.domain) for z in zones] == [
        ("package-0", "cpu"),
        ("package-0/dram", "dram"),
        ("package-1", "cpu"),
        ("package-1/dram", "dram"),
    ]  # no core, no uncore, no intel-rapl-mmio duplicate


def test_window_equals_counter_differences_across_two_wraps(tmp_path):
    tree = FakePowercap(tmp_path / "pc", max_range_j=100.0)
    meter = RaplMeter(tree.root)
    assert meter.poll_interval_s == pytest.approx(100.0 / 2000.0 / 2)  # twice per fastest wrap
    tree.set_j(PACKAGE, 50.0)
    tree.set_j(DRAM, 99.0)
    package_steps = [70, 90, 10, 30, 50, 70, 90, 10, 25]  # wraps twice: 175 J in all
    with meter.window() as window:
        for value in package_steps:
            time.sleep(0.06)
            tree.set_j(PACKAGE, value)
        tree.set_j(DRAM, 4.0)  # wraps: 5 J
        time.sleep(0.06)
    m = window.measurement
    assert m.source == "rapl"
    assert m.parts_j["cpu"] == pytest.approx(175.0, rel=1e-3)
    assert m.parts_j["dram"] == pytest.approx(5.0, rel=1e-3)
    assert m.energy_j == pytest.approx(180.0, rel=1e-3)


def test_a_step_implying_impossible_power_is_rejected_not_counted(tmp_path):
    tree = FakePowercap(tmp_path / "pc", max_range_j=1000.0)
    meter = RaplMeter(tree.root)
    tree.set_j(PACKAGE, 500.0)
    with meter.window() as window:
        time.sleep(0.02)
        tree.set_j(PACKAGE, 499.0)  # a reset or glitch: the wrap correction would say +999 J
        time.sleep(0.02)
    m = window.measurement
    assert m.energy_j is None and "implies" in m.note


def make_unreadable(tree: FakePowercap, monkeypatch) -> None:
    """chmod 000 stops other users; root reads anyway, so the OS's refusal is simulated at pathlib."""
    energy = tree.zones[PACKAGE] / "energy_uj"
    energy.chmod(0)
    real = Path.read_text

    def read_text(self, *args, **kwargs):
        if self.name == "energy_uj" and not (self.stat().st_mode & 0o444):
            raise PermissionError(13, "Permission denied", str(self))
        return real(self, *args, **kwargs)

    monkeypatch.setattr(Path, "read_text", read_text)


def test_unreadable_rapl_is_an_error_when_asked_for_and_a_fallback_under_auto(tree, monkeypatch):
    make_unreadable(tree, monkeypatch)
    with pytest.raises(MeterUnavailable, match=r"cannot read .*energy_uj: .*root.*chmod a\+r"):
        make("meter", "rapl", powercap_root=tree.root).build()
    said: list[str] = []
    meter = make("meter", "auto", powercap_root=tree.root).build(MeterUse(announce=said.append))
    assert isinstance(meter, EstimateMeter)
    assert len(said) == 1 and "RAPL" in said[0] and "labelled estimate" in said[0]


def test_explicit_rapl_without_counters_exits_2_before_any_study(tmp_path):
    db = tmp_path / "o.db"
    out = run_cli(
        [
            "harness",
            *TINY,
            "meter=rapl",
            f"meter.powercap_root={tmp_path}/none",
            f"study.storage=sqlite:///{db}",
        ],
        tmp_path,
    )
    assert out.returncode == 2
    assert out.stderr.strip().startswith("harness: error: RAPL: no powercap tree at")
    assert optuna.get_all_study_summaries(f"sqlite:///{db}") == []


def read_rows(run_dir: Path) -> list[dict[str, str]]:
    with (run_dir / "trials.csv").open() as fh:
        return list(csv.DictReader(fh))


def test_a_study_metered_by_rapl_records_package_and_dram_joules(make_config, tmp_path, tree, monkeypatch):
    monkeypatch.setenv("HARNESS_JOBS_DIR", str(tmp_path / "jobs"))
    cfg = make_config(
        "meter=rapl",
        f"meter.powercap_root={tree.root}",
        "strategy=random",
        "study.rounds=3",
        "study.epochs=15",  # windows long enough that a writer tick at each edge is noise
        "meter.idle_s=0.3",
    )
    with PowerWriter(tree, {PACKAGE: 40.0, DRAM: 5.0}):
        study_mod.run(cfg, tmp_path / "run")
    rows = read_rows(tmp_path / "run")
    for r in rows:
        energy, cpu, dram = float(r["energy_j"]), float(r["cpu_j"]), float(r["dram_j"])
        assert r["energy_source"] == "rapl" and r["shared_counters"] == "False"
        assert cpu + dram == pytest.approx(energy)
        assert dram / energy == pytest.approx(5 / 45, rel=0.25)
        # The writer draws 45 W; a window's joules follow its duration (edges cost a writer tick).
        window_s = float(r["train_s"]) + float(r["eval_s"])
        assert energy / 45.0 >= window_s * 0.8
        # Idle power is the writer's 45 W, so the net joules are close to zero.
        assert abs(float(r["energy_net_j"])) < 0.25 * energy
    info = json.loads((tmp_path / "run" / "study.json").read_text())
    assert info["idle_power_w"] == pytest.approx(45.0, rel=0.15)
    assert info["machine"]["rapl_zones"] == ["package-0", "package-0/dram"]
    stored = optuna.load_study(study_name=cfg.study_name, storage=cfg.study.storage).user_attrs
    assert stored["idle_power_w"] == info["idle_power_w"]


def test_rounds_beside_another_live_job_are_marked_as_sharing_counters(
    make_config, tmp_path, tree, monkeypatch
):
    jobs_dir = tmp_path / "jobs"
    monkeypatch.setenv("HARNESS_JOBS_DIR", str(jobs_dir))
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        jobs_dir.mkdir()
        (jobs_dir / str(other.pid)).touch()
        (jobs_dir / "999999999").touch()  # a dead job's leftover: ignored and removed
        cfg = make_config(
            "meter=rapl", f"meter.powercap_root={tree.root}", "strategy=random", "study.rounds=2"
        )
        study_mod.run(cfg, tmp_path / "rapl")
        est = make_config("meter=estimate", "strategy=random", "study.rounds=2", "study.name=est")
        study_mod.run(est, tmp_path / "est")
    finally:
        other.kill()
        other.wait()
    assert [r["shared_counters"] for r in read_rows(tmp_path / "rapl")] == ["True", "True"]
    # Process CPU time is this process's own: the estimate is not affected by other jobs.
    assert [r["shared_counters"] for r in read_rows(tmp_path / "est")] == ["False", "False"]
    assert not (jobs_dir / "999999999").exists()


def test_active_jobs_registers_and_unregisters(tmp_path):
    with ActiveJobs(tmp_path) as jobs:
        assert (tmp_path / str(jobs.mine.name)).exists() and jobs.others() == 0
    assert not list(tmp_path.iterdir())


# --------------------------------------------------------------------------------------------------
# NVML


def test_volta_counter_is_read_at_the_window_edges(nvml):
    synced = []
    meter = NvmlMeter([0], synchronize=lambda: synced.append(time.perf_counter()))
    with meter.window() as window:
        time.sleep(0.2)
    m = window.measurement
    assert m.source == "nvml_counter" and len(synced) == 2
    assert m.energy_j == pytest.approx(200.0 * m.duration_s, rel=0.05)
    assert m.parts_j == {"gpu": m.energy_j}
    assert meter.describe()["gpu_names"] == ["Tesla V100"]
    assert meter.describe()["gpu_power_limits_w"] == [300.0]
    meter.close()
    assert nvml.STATE["initialised"] == 0 and nvml.STATE["shutdown_calls"] == 1


def test_gpu_without_counter_is_integrated_from_polled_power(nvml, monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "1")  # CUDA's device 0 is NVML's device 1
    meter = NvmlMeter([0], poll_interval_s=0.01)
    with meter.window() as window:
        time.sleep(0.3)
    m = window.measurement
    assert m.source == "nvml_power"
    # Integrated over exactly the window's span (the poller runs a little longer on both sides).
    assert m.energy_j == pytest.approx(120.0 * m.duration_s, rel=1e-9)
    assert meter.describe()["gpu_names"] == ["GeForce GTX 1080"]
    meter.close()


def test_polled_power_is_integrated_over_the_window_only():
    from harness.energy.nvml import integrate

    ramp = [(0.0, 100.0), (1.0, 200.0), (2.0, 300.0), (3.0, 400.0)]  # watts rising 100 W/s
    assert integrate(ramp, 0.5, 2.5) == pytest.approx(2.0 * 250.0)  # mean power 250 W over 2 s
    assert integrate(ramp, 1.0, 1.0) == 0.0
    assert integrate([(1.0, 50.0)], 0.0, 2.0) == pytest.approx(100.0)  # one sample: flat
    assert integrate([], 0.0, 2.0) == 0.0


def test_a_counter_reading_zero_is_no_counter(nvml):
    nvml.DEVICES[0]["stuck_at_mj"] = 0
    meter = NvmlMeter([0], poll_interval_s=0.01)
    assert meter.source == "nvml_power"
    with meter.window() as window:
        time.sleep(0.2)
    assert window.measurement.energy_j == pytest.approx(200.0 * window.measurement.duration_s, rel=1e-9)
    meter.close()


def test_a_counter_that_stops_advancing_gives_no_reading_then_power_polling(nvml):
    nvml.DEVICES[0]["stuck_at_mj"] = 123_456
    meter = NvmlMeter([0], poll_interval_s=0.01)
    assert meter.source == "nvml_counter"
    with meter.window() as window:
        time.sleep(1.1)
    m = window.measurement
    assert m.energy_j is None and "did not advance" in m.note  # never 0 J
    assert meter.source == "nvml_power"
    with meter.window() as window:
        time.sleep(0.2)
    assert window.measurement.source == "nvml_power"
    assert window.measurement.energy_j == pytest.approx(200.0 * window.measurement.duration_s, rel=1e-9)
    meter.close()


def test_cuda_visible_devices_by_uuid_and_two_gpus_at_once(nvml, monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "GPU-bbb,GPU-aaa")
    meter = NvmlMeter([0, 1], poll_interval_s=0.01)
    assert meter.describe()["gpu_names"] == ["GeForce GTX 1080", "Tesla V100"]
    assert meter.source == "nvml_counter+nvml_power"
    with meter.window() as window:
        time.sleep(0.2)
    assert window.measurement.energy_j == pytest.approx(320.0 * window.measurement.duration_s, rel=0.05)
    meter.close()


def test_a_device_outside_cuda_visible_devices_is_refused(nvml, monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0")
    with pytest.raises(MeterUnavailable, match="CUDA device 1 is not among"):
        NvmlMeter([1])
    assert nvml.STATE["initialised"] == 0  # shut down again on failure


def test_no_driver_explicit_nvml_fails_and_auto_falls_back(nvml, tree):
    nvml.reset([], fail_init=True)
    with pytest.raises(MeterUnavailable, match="NVML: cannot initialise"):
        make("meter", "nvml").build(MeterUse(cuda_indices=(0,)))
    said: list[str] = []
    meter = make("meter", "auto", powercap_root=tree.root).build(
        MeterUse(cuda_indices=(0,), announce=said.append)
    )
    assert isinstance(meter, RaplMeter) and "GPU energy is not measured" in said[0]


def test_auto_chains_nvml_and_rapl_and_sums_disjoint_domains(nvml, tree):
    meter = make("meter", "auto", powercap_root=tree.root).build(
        MeterUse(cuda_indices=(0,), announce=lambda m: None)
    )
    assert isinstance(meter, CompositeMeter) and meter.source == "nvml_counter+rapl"
    with PowerWriter(tree, {PACKAGE: 50.0}), meter.window() as window:
        time.sleep(0.3)
    m = window.measurement
    assert m.source == "nvml_counter+rapl"
    assert m.energy_j == pytest.approx(m.parts_j["gpu"] + m.parts_j["cpu"] + m.parts_j.get("dram", 0.0))
    assert m.parts_j["gpu"] == pytest.approx(200 * m.duration_s, rel=0.05)
    meter.close()
    assert nvml.STATE["initialised"] == 0


def test_harness_meter_on_this_machine_says_plainly_what_it_will_use(tmp_path):
    out = run_cli(
        ["harness-meter", "--seconds", "0.5", "--powercap-root", str(tmp_path / "absent")], tmp_path
    )
    assert out.returncode == 0
    assert "NVML (GPU)" in out.stdout and "unavailable" in out.stdout
    assert "RAPL: no powercap tree" in out.stdout
    assert "No GPU and no readable RAPL counters here" in out.stdout and "labelled estimate" in out.stdout
    assert "estimate (CPU time)" in out.stdout and " W [estimate: cpu" in out.stdout


def test_harness_meter_reads_a_powercap_tree(tmp_path):
    tree = FakePowercap(tmp_path / "pc")
    out = run_cli(["harness-meter", "--seconds", "0.2", "--powercap-root", str(tree.root)], tmp_path)
    assert out.returncode == 0
    assert "RAPL (CPU package, DRAM)   readable" in out.stdout and "meter=auto will use: rapl" in out.stdout


# --------------------------------------------------------------------------------------------------
# The contract every meter passes


def meters(kind: str, tmp_path: Path, nvml) -> tuple[Meter, PowerWriter | None]:
    if kind == "estimate":
        return EstimateMeter(10.0), None
    tree = FakePowercap(tmp_path / kind)
    writer = PowerWriter(tree, {PACKAGE: 30.0, DRAM: 3.0})
    if kind == "rapl":
        return RaplMeter(tree.root), writer
    if kind == "nvml_counter":
        return NvmlMeter([0]), writer
    if kind == "nvml_power":
        nvml.DEVICES[0]["counter"] = False
        return NvmlMeter([0], poll_interval_s=0.01), writer
    quiet_gpu = MeterUse(cuda_indices=(0,), announce=lambda m: None)
    return make("meter", "auto", powercap_root=tree.root).build(quiet_gpu), writer


@pytest.mark.parametrize("kind", ["estimate", "rapl", "nvml_counter", "nvml_power", "auto_gpu_cpu"])
def test_meter_contract(kind, tmp_path, nvml):
    meter, writer = meters(kind, tmp_path, nvml)
    try:
        if writer:
            writer.__enter__()
        readings = []
        for seconds in (0.1, 0.3):
            with meter.window() as window:
                busy(seconds)
            readings.append(window.measurement)
    finally:
        if writer:
            writer.__exit__()
        meter.close()
    short, long = readings
    for m in readings:
        assert m.source and m.source != "none"
        assert m.energy_j is not None and m.energy_j >= 0
        assert m.duration_s > 0
        assert sum(m.parts_j.values()) == pytest.approx(m.energy_j)
    assert long.energy_j > short.energy_j  # monotone in work


def test_null_meter_gives_no_reading_never_zero():
    meter = NullMeter()
    with meter.window() as window:
        busy(0.01)
    assert window.measurement.energy_j is None and window.measurement.source == "none"


@pytest.mark.parametrize("device", [0, 1], ids=["counter", "polled power"])
def test_kernels_still_queued_at_the_end_count_in_the_window_s_joules_and_its_seconds(
    nvml, device, monkeypatch
):
    """0.2 s of work, then 0.3 s of queued kernels that synchronize waits for: both belong to the
    window. Before the fix the clock stopped first, so the counter's joules covered 0.5 s while the
    window said 0.2 s (a power of 2.5x the real one), and polling integrated only 0.2 s."""
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", str(device))
    calls = []

    def synchronize() -> None:
        calls.append(time.perf_counter())
        if len(calls) == 2:  # the window's end: wait for the queued kernels
            time.sleep(0.3)

    meter = NvmlMeter([0], poll_interval_s=0.01, synchronize=synchronize)
    with meter.window() as window:
        time.sleep(0.2)
    m = window.measurement
    watts = 200.0 if device == 0 else 120.0
    assert m.duration_s >= 0.5
    assert m.energy_j == pytest.approx(watts * m.duration_s, rel=0.05)
    meter.close()


def test_a_rapl_zone_that_fails_mid_window_gives_no_reading_and_a_note(tree):
    """The file vanishes while a round runs (a driver unloaded, a container's mount gone): the window
    still closes, with no joules and the reason, and the study goes on."""
    meter = RaplMeter(tree.root)
    with meter.window() as window:
        time.sleep(0.05)
        (tree.zones["package-0"] / "energy_uj").unlink()
        time.sleep(0.05)
    m = window.measurement
    assert m.energy_j is None and "failed mid-window" in m.note


def test_an_idle_baseline_measured_on_another_machine_is_measured_again_on_resume(
    make_config, tmp_path, tree, monkeypatch, capfd
):
    monkeypatch.setenv("HARNESS_JOBS_DIR", str(tmp_path / "jobs"))
    args = ["meter=rapl", f"meter.powercap_root={tree.root}", "strategy=random", "meter.idle_s=0.3"]
    with PowerWriter(tree, {PACKAGE: 40.0}):
        study_mod.run(make_config(*args, "study.rounds=1"), tmp_path / "run")
    cfg = make_config(*args, "study.rounds=2")
    study = optuna.load_study(study_name=cfg.study_name, storage=cfg.study.storage)
    assert study.user_attrs["idle_machine"]["hostname"]
    # As if the first round ran elsewhere, on a machine idling at 400 W.
    study.set_user_attr("idle_machine", {**study.user_attrs["idle_machine"], "hostname": "elsewhere"})
    study.set_user_attr("idle_power_w", 400.0)
    capfd.readouterr()
    with PowerWriter(tree, {PACKAGE: 40.0}):
        study_mod.run(cfg, tmp_path / "run")
    assert "measured on another machine" in capfd.readouterr().err
    stored = optuna.load_study(study_name=cfg.study_name, storage=cfg.study.storage).user_attrs
    assert stored["idle_power_w"] == pytest.approx(40.0, rel=0.2)


@pytest.mark.parametrize(
    ("instant", "expected_w"), [(150.0, 150.0), (None, 120.0)], ids=["instant", "average"]
)
def test_polling_reads_the_instant_power_field_where_the_driver_has_it(
    nvml, monkeypatch, instant, expected_w
):
    """The plain power reading is a 1-s average on Ampere and newer: the poller prefers the instant
    field (here 150 W against the average's 120 W) and falls back to the average without it."""
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "1")
    if instant is not None:
        nvml.DEVICES[1]["instant_w"] = instant
    meter = NvmlMeter([0], poll_interval_s=0.01)
    with meter.window() as window:
        time.sleep(0.2)
    m = window.measurement
    assert m.energy_j == pytest.approx(expected_w * m.duration_s, rel=1e-6)
    assert meter.describe()["gpu_power_field"] == ["instant" if instant else "average"]
    meter.close()


@pytest.mark.parametrize("instant", [True, False], ids=["instant field", "1-s average only"])
def test_a_power_step_at_the_window_s_start_is_read_at_once_through_the_instant_field(
    nvml, monkeypatch, instant
):
    """Power jumps from 50 W to 250 W as the window opens. The instant field follows it; the 1-s
    average climbs over a second, so a 0.6-s window integrated from it reads under half the truth."""
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "1")
    step = time.perf_counter() - fake_nvml._T0
    nvml.DEVICES[1].update(power_at=lambda t: 250.0 if t >= step else 50.0, instant=instant)
    meter = NvmlMeter([0], poll_interval_s=0.01)
    with meter.window() as window:
        time.sleep(0.6)
    m = window.measurement
    truth = 250.0 * m.duration_s
    if instant:
        assert m.energy_j == pytest.approx(truth, rel=0.05)
    else:  # what reading the average alone gives: labelled as the average field, and far under
        assert meter.describe()["gpu_power_field"] == ["average"]
        assert m.energy_j < 0.6 * truth
    meter.close()


def test_an_nvml_error_opening_the_gpus_is_one_line_for_nvml_and_a_fallback_for_auto(nvml, monkeypatch, tree):
    """CUDA accepts a shortened UUID or a MIG-... entry that NVML does not know ("Not Found")."""
    from harness.energy.select import auto_meter
    from harness.errors import MeterUnavailable

    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "GPU-aa")  # a shortened UUID: NVML says Not Found
    with pytest.raises(MeterUnavailable, match="NVML: cannot open the GPUs the study uses"):
        NvmlMeter([0])
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "MIG-1234")
    with pytest.raises(MeterUnavailable, match="CUDA device 0 is a MIG instance"):
        NvmlMeter([0])
    said = []
    meter = auto_meter(
        watts_per_core=10.0,
        powercap_root=tree.root,
        poll_interval_s=0.1,
        cuda_indices=[0],
        announce=said.append,
    )
    assert isinstance(meter, RaplMeter) and "GPU energy is not measured" in said[0]
    assert nvml.STATE["initialised"] == 0  # shut down again each time


def test_cuda_finds_its_gpu_in_nvml_by_uuid_whatever_the_order(nvml):
    """CUDA numbers devices fastest first by default, NVML by PCI bus: CUDA's device 0 may be NVML's
    device 1. torch gives CUDA's UUID (bare, without NVML's GPU- prefix), and the meter goes by it."""
    meter = NvmlMeter([0], poll_interval_s=0.01, cuda_uuids=["BBB"])
    assert meter.describe()["gpu_names"] == ["GeForce GTX 1080"]
    meter.close()
    with pytest.raises(MeterUnavailable, match="no GPU has the UUID ccc that CUDA reports for device 0"):
        NvmlMeter([0], cuda_uuids=["ccc"])
    assert nvml.STATE["initialised"] == 0


def test_a_mig_instance_is_refused_in_one_line_and_auto_falls_back(nvml, tree):
    from harness.energy.select import auto_meter

    nvml.DEVICES[0].update(mig=1, mig_devices=[{"name": "A100 1g.10gb", "uuid": "MIG-ccc"}])
    with pytest.raises(
        MeterUnavailable, match=r"CUDA device 0 is a MIG instance \(MIG 0 of GPU 0, Tesla V100\)"
    ):
        NvmlMeter([0], cuda_uuids=["ccc"])
    said: list[str] = []
    meter = auto_meter(
        watts_per_core=10.0,
        powercap_root=tree.root,
        poll_interval_s=0.1,
        cuda_indices=[0],
        cuda_uuids=["ccc"],
        announce=said.append,
    )
    assert (
        isinstance(meter, RaplMeter) and "MIG instance" in said[0] and "GPU energy is not measured" in said[0]
    )


def test_a_window_shorter_than_the_counters_period_is_power_times_time_and_says_so(nvml):
    """Real counters advance every so often (here 100 ms): a 20 ms window (a strategy's ask) would
    read 0 J, or a whole period's joules. It gets the power times its length, labelled."""
    nvml.DEVICES[0]["update_ms"] = 100
    meter = NvmlMeter([0], poll_interval_s=0.01)
    assert meter.gpus[0].counter_period_s == pytest.approx(0.1, abs=0.03)
    for _ in range(5):  # wherever the window falls against the counter's steps
        with meter.window() as window:
            time.sleep(0.02)
        m = window.measurement
        assert m.energy_j == pytest.approx(200.0 * m.duration_s, rel=1e-6)  # never 0
        assert m.source == "nvml_power" and "shorter than its energy counter's 0.1" in m.note
    with meter.window() as window:
        time.sleep(0.5)
    m = window.measurement
    assert m.source == "nvml_counter" and m.note == ""
    assert abs(m.energy_j - 200.0 * m.duration_s) <= 200.0 * 0.1 + 1e-6  # within one step of the truth
    meter.close()


@pytest.mark.parametrize("when", ["mid-window", "at the window's start"])
def test_an_nvml_read_error_is_no_reading_with_its_cause_never_an_exception(nvml, when):
    meter = NvmlMeter([0], poll_interval_s=0.01)
    if when == "at the window's start":
        nvml.DEVICES[0]["lost"] = True
    with meter.window() as window:
        nvml.DEVICES[0]["lost"] = True  # the driver lost the GPU while the round ran
        time.sleep(0.05)
    m = window.measurement
    assert m.energy_j is None and "NVML energy counter read failed (GPU is lost)" in m.note
    nvml.DEVICES[0]["lost"] = False
    with meter.window() as window:
        time.sleep(1.05)
    assert window.measurement.energy_j is not None  # the next window reads again
    meter.close()


def test_the_gpu_check_says_in_one_line_that_it_needs_a_gpu(tmp_path):
    """`make gpu-check` on a machine without CUDA: exit 2, one line, nothing written."""
    from tests.conftest import ROOT

    out = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "gpu_check.py"), "--out", str(tmp_path / "out")],
        capture_output=True,
        text=True,
        env={**os.environ, "CUDA_VISIBLE_DEVICES": ""},
    )
    assert out.returncode == 2
    assert (
        out.stderr.strip()
        == "gpu-check: error: torch sees no CUDA device; run it on a machine with an NVIDIA GPU"
    )
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("processes", "others"),
    [
        ("me", 0),  # only this study on the GPU
        ("me+1", 1),  # and one other process: its work is in the counter too
        ("host:1", 0),  # a container: NVML lists host PIDs; the one listed is this process
        ("host:2", 1),
    ],
)
def test_other_processes_on_the_metered_gpu_are_counted_at_the_window_edges(nvml, processes, others):
    listed = {"me": [os.getpid()], "me+1": [os.getpid(), 999_999], "host:1": [4242], "host:2": [4242, 4343]}
    meter = NvmlMeter([0], poll_interval_s=0.01)
    with meter.window() as window:
        nvml.DEVICES[0]["processes"] = listed[processes]  # seen at the window's end
        time.sleep(0.05)
    assert window.measurement.others == others
    meter.close()


def test_the_gpu_path_wires_device_uuid_and_synchronize_into_the_meter_and_machine_record(
    nvml, tree, monkeypatch
):
    """study.device=cuda:1 on a CPU-only machine, faked at torch.cuda's and NVML's boundaries: the
    meter reads the GPU CUDA calls device 1 (found by its UUID: NVML numbers it 0), synchronises that
    device at both edges, and auto chains it with RAPL; the machine record names the metered GPU."""
    import torch

    from harness.machine import machine_info

    synced: list[object] = []

    class Properties:
        uuid = "aaa"  # torch gives the UUID bare; NVML says GPU-aaa

    monkeypatch.setattr(torch.cuda, "synchronize", lambda device=None: synced.append(device))
    monkeypatch.setattr(torch.cuda, "get_device_properties", lambda index: Properties())
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setattr(
        torch.cuda, "get_device_name", lambda index: ["GeForce GTX 1080", "Tesla V100"][index]
    )
    device = torch.device("cuda", 1)
    use = study_mod.meter_use(device)
    assert use.cuda_indices == (1,) and use.cuda_uuids == ("aaa",)
    nvml_only = make("meter", "nvml").build(use)
    assert nvml_only.describe()["gpu_names"] == ["Tesla V100"]  # by UUID; ordinal 1 would be the GTX
    with nvml_only.window() as window:
        time.sleep(0.2)
    assert window.measurement.source == "nvml_counter" and synced == [device, device]
    assert window.measurement.energy_j == pytest.approx(200.0 * window.measurement.duration_s, rel=0.05)
    nvml_only.close()
    auto = make("meter", "auto", powercap_root=str(tree.root)).build(use)
    assert auto.source == "nvml_counter+rapl"
    info = machine_info(auto, device)
    assert info["gpu_names"] == ["Tesla V100"] and info["meter"] == "nvml_counter+rapl"  # the metered GPU
    auto.close()
    assert study_mod.meter_use(torch.device("cpu")).cuda_indices == ()


def test_under_the_estimate_a_study_trains_with_one_thread_unless_told(tmp_path):
    """CPU seconds x watts bills spinning OpenMP threads: with two threads a round was billed 2.6x as
    much beside a competing load as quietly, with one thread 0.94x (bench/estimate_load.py)."""
    base = [
        "harness",
        *[o for o in TINY if not o.startswith("study.threads")],
        "study.rounds=1",
        "meter=estimate",
    ]
    for given, expected in (([], 1), (["study.threads=2"], 2)):
        run = tmp_path / f"run{len(given)}"
        out = run_cli([*base, *given, f"study.storage=sqlite:///{run}.db", f"hydra.run.dir={run}"], tmp_path)
        assert out.returncode == 0, out.stderr
        assert json.loads((run / "study.json").read_text())["machine"]["torch_threads"] == expected


def write_stat(path: Path, busy_ticks: int, idle_ticks: int, steal_ticks: int = 0) -> None:
    """A /proc/stat as Linux writes it: the machine's CPU time by kind, in clock ticks, since boot."""
    path.write_text(
        f"cpu  {busy_ticks} 0 0 {idle_ticks} 0 0 0 {steal_ticks} 0 0\n"
        f"cpu0 {busy_ticks} 0 0 {idle_ticks} 0 0 0 {steal_ticks} 0 0\nintr 0\nctxt 0\nbtime 0\n"
    )


@pytest.mark.parametrize(
    ("others", "steal", "contended"),
    [(0.0, 0.0, False), (1.0, 0.0, True), (0.0, 0.1, True)],
    ids=["quiet", "another process busy", "hypervisor steal"],
)
def test_a_window_records_the_machine_s_load_from_proc_stat(tmp_path, monkeypatch, others, steal, contended):
    from harness.energy.load import LoadProbe

    stat = tmp_path / "stat"
    hz = os.sysconf("SC_CLK_TCK")
    write_stat(stat, 10_000, 50_000)
    meter = EstimateMeter(10.0)
    monkeypatch.setattr(meter, "probe", LoadProbe(stat))
    with meter.window() as w:
        busy(1.1)  # this process's own work: never counted as the machine's other load
        own = w.so_far().energy_j / 10.0  # the estimate is this process's CPU seconds x 10 W
        total = 2 * 1.1 * hz  # two cores' ticks over the window
        write_stat(
            stat,
            10_000 + round((own + others * 1.1) * hz),
            50_000 + round(total * (1 - steal)) - round((own + others * 1.1) * hz),
            round(total * steal),
        )
    load = w.measurement.load
    assert load is not None
    assert load.others_cores == pytest.approx(others, abs=0.1)
    assert load.steal == pytest.approx(steal, abs=0.02)
    assert load.contended is contended


def test_a_short_window_or_an_unreadable_proc_stat_leaves_the_load_unknown(tmp_path, monkeypatch):
    from harness.energy.load import LoadProbe

    meter = EstimateMeter(10.0)
    with meter.window() as w:
        pass  # far under a second: a few clock ticks cannot tell load from rounding
    assert w.measurement.load is None
    monkeypatch.setattr(meter, "probe", LoadProbe(tmp_path / "no-such-stat"))
    with meter.window() as w:
        busy(1.05)
    assert w.measurement.load is None and w.measurement.energy_j > 0


def test_rounds_run_beside_a_busy_process_are_flagged_in_trials_csv_and_the_report(
    make_config, tmp_path, monkeypatch
):
    """Against the real /proc/stat: a process spinning on a core through the study."""
    from harness.energy import load

    monkeypatch.setattr(load, "MIN_WINDOW_S", 0.2)  # short rounds: judge windows from 0.2 s
    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        cfg = make_config("meter=estimate", "strategy=random", "study.rounds=2", "study.epochs=60")
        study_mod.run(cfg, tmp_path / "run")
    finally:
        spinner.kill()
        spinner.wait()
    rows = read_rows(tmp_path / "run")
    judged = [r for r in rows if r["others_cores"]]
    assert judged, [r["duration_s"] for r in rows]  # the rounds lasted long enough to be judged
    for r in judged:
        assert float(r["others_cores"]) >= 0.5 and r["contended"] == "True", r
    assert all(r["contended"] == "" for r in rows if not r["others_cores"])  # unknown: empty, not False
    out = run_cli(
        ["harness-report", str(tmp_path / "run"), "--no-plots", "--out", str(tmp_path / "rep")], tmp_path
    )
    assert out.returncode == 0, out.stderr
    said = f"{len(judged)} round(s) in 1 studies were measured while other processes kept the machine busy"
    assert said in out.stdout and said in (tmp_path / "rep" / "summary.md").read_text()


def test_a_measurement_says_whether_a_machine_wide_counter_took_it():
    """RAPL and NVML count every process on the device; the estimate, this process alone; a replayed
    round's joules were measured when its table was built, not now."""
    from harness.energy.base import Measurement

    wide = ["rapl", "nvml_counter", "nvml_power+rapl", "nvml_counter+estimate"]
    own = ["estimate", "none", "replay:nvml_counter", "replay:rapl"]
    assert all(Measurement(1.0, source, 1.0).machine_wide for source in wide)
    assert not any(Measurement(1.0, source, 1.0).machine_wide for source in own)
