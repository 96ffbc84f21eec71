"""Several processes (torch.distributed, gloo on the CPU) run the same mechanism as one process.

Two processes either call the step functions directly (spawned here: exact comparisons with the single-process
step, the noise drawn once) or run `python -m torch.distributed.run -m dpcgan train` end to end.
"""

import copy
import json
import multiprocessing as mp
import os
import queue
import signal
import subprocess
import sys
import time
import traceback

import numpy as np
import pytest
from conftest import assert_same_run
import torch
import torch.distributed as dist

from dpcgan.cli import main
from dpcgan.data import PoissonSampler
from dpcgan.data.sampler import poisson_sample_rate
from dpcgan.distributed import CPU_SEED_MASK, World
from dpcgan.errors import ConfigError
from dpcgan.models import FCDiscriminator, FCGenerator
from dpcgan.privacy.noise import SecureNoise
from dpcgan.rng import make_generators
from dpcgan.train import DStepSettings, discriminator_step, discriminator_update, generator_update
from dpcgan.train.checkpoint import CHECKPOINT_NAME
from dpcgan.train.loop import summarize

WORLD = 2
STEPS = 240


# --- two spawned processes calling the step functions -------------------------------------------------------

def _rank_main(rank, init_file, fn, results):
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=WORLD)
    try:
        results.put((rank, None, fn(World(rank, WORLD))))
    except BaseException:
        results.put((rank, traceback.format_exc(), None))
    finally:
        dist.destroy_process_group()


def run_ranks(fn, tmp_dir, timeout=90) -> list:
    """fn(world) in WORLD spawned processes joined by gloo; returns each rank's (picklable, tensor-free) result."""
    ctx = mp.get_context("spawn")
    results = ctx.Queue()
    procs = [ctx.Process(target=_rank_main, args=(r, str(tmp_dir / "pg-init"), fn, results)) for r in range(WORLD)]
    for p in procs:
        p.start()
    out, errors = {}, []
    try:
        for _ in procs:
            rank, error, value = results.get(timeout=timeout)
            if error:
                errors.append(f"rank {rank}:\n{error}")
                break  # the other rank may now wait forever in a collective
            out[rank] = value
    except queue.Empty:
        errors.append("timed out")
    finally:
        for p in procs:
            p.join(timeout=10 if not errors else 0.1)
            if p.is_alive():
                p.terminate()
                p.join()
    if errors:
        pytest.fail("\n".join(errors))
    return [out[r] for r in range(WORLD)]


def _params(*modules) -> torch.Tensor:
    return torch.cat([p.detach().reshape(-1) for m in modules for p in m.parameters()])


def _share_slice(world: World, total: int) -> slice:
    start = sum(World(r, world.size).share(total) for r in range(world.rank))
    return slice(start, start + world.share(total))


def _step_checks(world: World) -> dict:
    """Single-process steps vs the same steps split over the ranks, noise off (sigma = 0)."""
    torch.manual_seed(0)
    G, D = FCGenerator((1, 28, 28), 10), FCDiscriminator((1, 28, 28), 10)
    gen = torch.Generator().manual_seed(1)  # the same records and fakes on every rank
    m, B = 37, 40
    real_x, real_y = torch.rand(m, 1, 28, 28, generator=gen), torch.randint(0, 10, (m,), generator=gen)
    fake_y, z = torch.randint(0, 10, (B,), generator=gen), G.sample_latent(B, gen)
    with torch.no_grad():
        fake_x = G(z, fake_y)
    mine = slice(world.rank, None, world.size)  # this rank's half of the Poisson batch
    out = {}
    for mode in ("split", "joint", "off"):
        settings = DStepSettings(mode, B, 8.5, 0.0)  # C: about half of the split units are clipped here
        fx, fy = (fake_x[:m], fake_y[:m]) if mode == "joint" else (fake_x, fake_y)
        ref = copy.deepcopy(D)
        ref_stats = discriminator_update(ref, torch.optim.SGD(ref.parameters(), lr=1.0), real_x, real_y, fx, fy,
                                         settings=settings, noise_gen=None)
        got = copy.deepcopy(D)
        # split/off: any share of the B public fakes; joint: each record brings its own fake
        share = mine if mode == "joint" else _share_slice(world, B)
        got_stats = discriminator_update(got, torch.optim.SGD(got.parameters(), lr=1.0), real_x[mine], real_y[mine],
                                         fx[share], fy[share], settings=settings, noise_gen=None, world=world)
        world.check_identical(got)
        zero = torch.zeros(())
        out[mode] = {"max_diff": float((_params(got) - _params(ref)).abs().max()),
                     "moved": float((_params(ref) - _params(D)).abs().max()),
                     "stats": summarize(got_stats, zero, world, mode != "off"),
                     "ref_stats": summarize(ref_stats, zero, World(), mode != "off")}
    ref_G, got_G = copy.deepcopy(G), copy.deepcopy(G)
    ref_loss = generator_update(ref_G, torch.optim.Adam(ref_G.parameters(), lr=1e-3), D, z, fake_y, batch_size=B)
    share = _share_slice(world, B)
    got_loss = generator_update(got_G, torch.optim.Adam(got_G.parameters(), lr=1e-3), D, z[share], fake_y[share],
                                batch_size=B, world=world)
    world.check_identical(got_G)
    world.all_reduce_sum_([got_loss])
    # Adam's first step hardly depends on the gradient's scale: compare the (all-reduced) gradients themselves
    ref_grad, got_grad = (torch.cat([p.grad.reshape(-1) for p in m.parameters()]) for m in (ref_G, got_G))
    out["G"] = {"max_diff": float((_params(got_G) - _params(ref_G)).abs().max()),
                "grad_rel_diff": float((got_grad - ref_grad).abs().max() / ref_grad.abs().max()),
                "moved": float((_params(ref_G) - _params(G)).abs().max()),
                "loss": (float(got_loss), float(ref_loss))}
    return out


def _noise_checks(world: World) -> dict:
    """Clipped sums exactly zero (no real records, no fakes): the update is the noise alone, lr 1, B 1."""
    sigma, C = 1.3, 0.7
    out = {}
    for name, noise in (("release", SecureNoise()), ("seeded", torch.Generator().manual_seed(5))):
        torch.manual_seed(0)
        D = FCDiscriminator((1, 28, 28), 10)
        before = _params(D)
        empty_x, empty_y = torch.empty(0, 1, 28, 28), torch.empty(0, dtype=torch.long)
        discriminator_update(D, torch.optim.SGD(D.parameters(), lr=1.0), empty_x, empty_y, empty_x, empty_y,
                             settings=DStepSettings("split", 1, C, sigma), noise_gen=noise, world=world)
        world.check_identical(D)
        update = before - _params(D)
        out[name] = {"std_ratio": float(update.std() / (sigma * C)), "mean": float(update.mean()),
                     "coordinates": update.numel()}
    return out


def _stream_checks(world: World) -> dict:
    """Per-rank generators: different sampling/latent streams, identical otherwise; seeded collisions refused."""
    seeded = make_generators(11, rank=world.rank, world_size=world.size)
    release = make_generators(None, rank=world.rank, world_size=world.size)
    world.make_sampling_streams_distinct(release)  # release mode: fresh 128-bit OS-entropy key at every draw
    colliding = make_generators(11, rank=world.rank, world_size=world.size)
    colliding.sampling.manual_seed(12345)
    try:
        world.make_sampling_streams_distinct(colliding)
        refused = False
    except ConfigError:
        refused = True
    return {"seeded": {k: getattr(seeded, k).initial_seed() for k in ("sampling", "latent", "init", "preview")},
            "seeded_noise": seeded.noise.generator.initial_seed(),
            "release_sampling": release.sampling.integers(64, 2**53).tolist(), "seeded_collision_refused": refused}


def _all_checks(world: World) -> dict:
    return {"steps": _step_checks(world), "noise": _noise_checks(world), "streams": _stream_checks(world)}


@pytest.fixture(scope="module")
def two_ranks(tmp_path_factory):
    return run_ranks(_all_checks, tmp_path_factory.mktemp("pg"))


@pytest.mark.parametrize("mode", ["split", "joint", "off"])
def test_distributed_d_step_equals_the_single_process_step(two_ranks, mode):
    for rank in two_ranks:
        got = rank["steps"][mode]
        assert got["max_diff"] < 1e-5
        assert got["moved"] > 1e-3  # the step did something: the comparison is not vacuous
        for key, value in got["ref_stats"].items():  # logged statistics are over the whole batch
            assert got["stats"][key] == pytest.approx(value, rel=1e-5), key
    if mode == "split":  # both sides of the clipping were exercised
        assert 0.2 < two_ranks[0]["steps"][mode]["stats"]["clipped_fraction"] < 0.8


def test_distributed_g_step_equals_the_single_process_step(two_ranks):
    for rank in two_ranks:
        assert rank["steps"]["G"]["grad_rel_diff"] < 1e-5
        assert rank["steps"]["G"]["max_diff"] < 1e-5 and rank["steps"]["G"]["moved"] > 1e-4
        got_loss, ref_loss = rank["steps"]["G"]["loss"]
        assert got_loss == pytest.approx(ref_loss, rel=1e-5)


@pytest.mark.parametrize("source", ["release", "seeded"])
def test_noise_is_added_once_per_step_not_once_per_process(two_ranks, source):
    # About 100k coordinates: the std is estimated to ~0.3%. Noise on both ranks would give sqrt(2) (independent
    # draws) or 2 (the same seeded draw) times sigma*C.
    for rank in two_ranks:
        got = rank["noise"][source]
        assert got["coordinates"] > 100_000
        assert abs(got["std_ratio"] - 1) < 0.02
        assert abs(got["mean"]) < 0.02
    assert two_ranks[0]["noise"][source] == two_ranks[1]["noise"][source]  # one update, applied on both ranks


def test_each_rank_has_its_own_sampling_and_latent_streams(two_ranks):
    a, b = (r["streams"] for r in two_ranks)
    assert a["seeded"]["sampling"] & CPU_SEED_MASK != b["seeded"]["sampling"] & CPU_SEED_MASK
    assert a["seeded"]["latent"] != b["seeded"]["latent"]
    assert a["seeded"]["init"] == b["seeded"]["init"] and a["seeded_noise"] == b["seeded_noise"]
    assert a["release_sampling"] != b["release_sampling"]  # release mode: independent OS-entropy draws per rank
    assert a["seeded_collision_refused"] and b["seeded_collision_refused"]  # a seeded collision is refused
    single = make_generators(11)  # one process keeps the streams it had before sharding existed
    assert single.sampling.initial_seed() == int(np.random.SeedSequence(11).spawn(5)[0].generate_state(1, np.uint64)[0] >> 1)


# --- the sharded Poisson sampler (no processes needed) ---------------------------------------------------------

def test_sharded_poisson_batches_form_one_poisson_sample(mnist_small):
    n, q, draws = len(mnist_small), 0.05, 400
    samplers = [PoissonSampler(mnist_small, q, torch.Generator().manual_seed(100 + r), rank=r, world_size=WORLD)
                for r in range(WORLD)]
    sizes, counts = [], torch.zeros(n)
    for _ in range(draws):
        parts = [s.sample_indices() for s in samplers]
        for r, idx in enumerate(parts):
            assert bool((idx % WORLD == r).all())  # rank r reads only its shard
        union = torch.cat(parts)
        assert len(union.unique()) == len(union)
        counts[union] += 1
        sizes.append(len(union))
    sizes = torch.tensor(sizes, dtype=torch.float)
    # The union has the whole dataset's Binomial(n, q) size: the global rate q, not q/N or q*N, and independent
    # ranks (one stream reused by both ranks would double the variance).
    assert abs(sizes.mean() - n * q) < 4 * (n * q * (1 - q) / draws) ** 0.5
    assert abs(sizes.var() - n * q * (1 - q)) < 0.3 * n * q * (1 - q)
    for r in range(WORLD):  # every shard at rate q
        assert abs(counts[r::WORLD].mean() / draws - q) < 0.005
    one = PoissonSampler(mnist_small, q, torch.Generator().manual_seed(7))
    assert torch.equal(one.sample_indices(), PoissonSampler(mnist_small, q, torch.Generator().manual_seed(7),
                                                            rank=0, world_size=1).sample_indices())


def test_step_statistics_stay_on_the_device_until_logged():
    torch.manual_seed(0)
    G, D = FCGenerator((1, 28, 28), 10), FCDiscriminator((1, 28, 28), 10)
    stats = discriminator_step(D, torch.optim.SGD(D.parameters(), lr=0.1), G, torch.rand(5, 1, 28, 28),
                               torch.arange(5), settings=DStepSettings("split", 8, 1.0, 1.0),
                               prior=torch.full((10,), 0.1), latent_gen=torch.Generator().manual_seed(0),
                               noise_gen=torch.Generator().manual_seed(1))
    assert all(isinstance(v, (int, torch.Tensor)) for v in stats.values())  # no float(): no device sync per step
    assert stats["real_batch_size"] == 5 and stats["fake_count"] == 8


def test_device_cuda_without_a_gpu_is_a_clear_error(capsys):
    if torch.cuda.is_available():
        pytest.skip("a GPU is available")
    assert main(["train", "--device", "cuda", "--dataset", "nowhere.npz"]) == 2
    assert "no CUDA device" in capsys.readouterr().err


# --- torchrun end to end ----------------------------------------------------------------------------------------

def train_args(npz, out, seed=True):
    return ["train", "--preset", "paper", "--dataset", str(npz), "--num-classes", "10", "--batch-size", "100", "--sigma", "1.1",
            "--steps", str(STEPS),
            "--checkpoint-every", "40", "--log-every", "10", "--out", str(out), "--no-progress",
            "--device", "cpu"] + (["--seed", "3"] if seed else [])


def torchrun(args, **popen):
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", str(WORLD),
           "-m", "dpcgan", *args]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    return subprocess.Popen(cmd, env=env, **popen)


def run_torchrun(args) -> None:
    proc = torchrun(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    out, _ = proc.communicate(timeout=180)
    assert proc.returncode == 0, out


@pytest.fixture(scope="module")
def distributed_run(tmp_path_factory, small_npz):
    out = tmp_path_factory.mktemp("dist") / "run"
    run_torchrun(train_args(small_npz, out))
    return out


def test_torchrun_writes_one_run_with_the_single_process_privacy_report(distributed_run, small_npz, tmp_path):
    assert sorted(p.name for p in distributed_run.parent.iterdir()) == ["run"]  # rank 1 wrote nothing
    assert {"config.json", "generator.pt", "discriminator.pt", "privacy.json", "samples.png",
            "private"} <= {p.name for p in distributed_run.iterdir()}
    single = tmp_path / "single"
    assert main(["--threads", "1", *train_args(small_npz, single)]) == 0
    dist_report = json.loads((distributed_run / "privacy.json").read_text())
    single_report = json.loads((single / "privacy.json").read_text())
    assert dist_report["events"] == [{"sample_rate": poisson_sample_rate(0.05), "noise_multiplier": 1.1, "count": STEPS}]
    assert dist_report["epsilon_by_conversion"] == single_report["epsilon_by_conversion"]
    assert dist_report == single_report  # the whole privacy report: same mechanism, same accounting
    assert (json.loads((distributed_run / "config.json").read_text())
            == json.loads((single / "config.json").read_text()))
    # the union of the ranks' batches is sampled at the global rate q = 100/2000
    rows = [json.loads(r) for r in (distributed_run / "private" / "metrics.jsonl").read_text().splitlines()]
    sizes = [r["real_batch_size"] for r in rows]
    assert len(sizes) == STEPS // 10 and abs(np.mean(sizes) - 100) < 15


def test_torchrun_resume_continues_exactly_and_a_wrong_process_count_is_refused(distributed_run, small_npz,
                                                                                 tmp_path, capsys):
    out = tmp_path / "killed"
    partial = out.parent / f"{out.name}.partial"
    proc = torchrun(train_args(small_npz, out), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    try:
        while time.time() < deadline and proc.poll() is None:
            metrics = partial / "private" / "metrics.jsonl"
            if (partial / CHECKPOINT_NAME).is_file() and metrics.is_file():
                steps = [json.loads(r)["step"] for r in metrics.read_text().splitlines() if r.strip()]
                if steps and steps[-1] >= 100:
                    break
            time.sleep(0.05)
        else:
            pytest.fail("training finished or never checkpointed before it could be interrupted")
    finally:
        proc.send_signal(signal.SIGTERM)  # torchrun stops both workers (they die without cleaning up)
        proc.wait(timeout=60)
    assert not out.exists() and (partial / CHECKPOINT_NAME).is_file()

    assert main(["train", "--resume", str(out), "--no-progress", "--device", "cpu"]) == 2
    assert "--nproc-per-node 2" in capsys.readouterr().err  # one process cannot take over two ranks' streams

    run_torchrun(["train", "--resume", str(out), "--no-progress", "--device", "cpu"])
    assert_same_run(distributed_run, out, log_every=10, steps=STEPS)  # every rank's streams were restored
