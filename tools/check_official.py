"""End-to-end check of `posegpu run` against the official implementations' own code and outputs.

For every configuration below, a child process imports the *official* model class from a local
checkout (nothing of it is copied here), gives it random weights (BatchNorm statistics and SRNet's
gate convs included), runs it in eval mode on a random input, and writes the state dict (unchanged key
names: what a converted checkpoint holds), the input and the official output as safetensors. Then
`posegpu run MODEL --weights W --input X --output Y --config k=v ...` runs on the same files with the
official constructor arguments / command-line flags as --config keys, and its output is compared with
the official one (max |ours - official| <= 1e-4 * max |official|).

    /usr/bin/python3 tools/check_official.py --srnet ~/src/Split-and-Recombine-Net \\
        --videopose ~/src/VideoPose3D --martinez ~/src/3d_pose_baseline_pytorch [--only srnet]

Checkouts: ailingzengzzz/Split-and-Recombine-Net (`common/common_pytorch/model/{srnet,fc_baseline}.py`;
its module-level `parse_args()` reads the flags from sys.argv, which the child sets like run.py's),
facebookresearch/VideoPose3D (`common/model.py`), weigq/3d_pose_baseline_pytorch (`src/model.py`).
Needs torch and numpy; missing checkouts are skipped with a message. Exit code 1 when a check fails.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "fixtures"))
import st  # noqa: E402

# (name, repo, posegpu model, official flags / constructor arguments, input frames)
SRNET = [
    ("srnet_sf_multiply", dict(arc=[1, 1, 1]), 2),
    ("srnet_sf_add", dict(arc=[1, 1, 1], recombine="add"), 2),
    ("srnet_sf_concat", dict(arc=[1, 1, 1], recombine="concat"), 2),
    ("srnet_l8_concat", dict(arc=[1, 1, 1, 1], recombine="concat"), 2),
    ("srnet_sf_group3", dict(arc=[1, 1, 1], group=3), 2),
    ("srnet_sf_group2", dict(arc=[1, 1, 1], group=2), 2),
    ("srnet_sf_split_all", dict(arc=[1, 1, 1], split="all"), 2),
    ("srnet_sf_split_all_concat", dict(arc=[1, 1, 1], split="all", recombine="concat"), 2),
    ("srnet_sf_lcn", dict(arc=[1, 1, 1], norm="lcn"), 3),
    ("srnet_t27_multiply", dict(arc=[3, 3, 3]), 30),
    ("srnet_t27_concat", dict(arc=[3, 3, 3], recombine="concat"), 28),
    ("srnet_t27_causal", dict(arc=[3, 3, 3], causal=True), 29),
    ("srnet_t243_multiply", dict(arc=[3, 3, 3, 3, 3]), 244),
]
FC = [
    ("fc_sf", dict(arc=[1, 1, 1], channels=256), 3),
    ("fc_sf_lcn", dict(arc=[1, 1, 1], channels=256, norm="lcn"), 3),
    ("fc_t27_dense", dict(arc=[3, 3, 3], channels=256, dense=True), 28),
]
VIDEOPOSE = [
    ("videopose_t27", dict(filter_widths=[3, 3, 3]), 30),
    ("videopose_t27_causal", dict(filter_widths=[3, 3, 3], causal=True), 28),
    ("videopose_t243", dict(filter_widths=[3, 3, 3, 3, 3]), 244),
]
MARTINEZ = [
    ("martinez_default", dict(), 0),
    ("martinez_challenge_1block", dict(num_stage=1), 0),
]

CHILD = r"""
import json, os, sys
import numpy as np, torch
spec = json.loads(sys.argv[1])
sys.path.insert(0, spec["repo"])
sys.path.insert(0, spec["fixtures"])
import st
torch.manual_seed(spec["seed"]); np.random.seed(spec["seed"])
kind, cfg = spec["kind"], spec["cfg"]
if kind in ("srnet", "fc"):
    flags = ["run.py", "--model", "srnet" if kind == "srnet" else "fc", "--norm", cfg.get("norm", "base")]
    if kind == "srnet":
        flags += ["--group", str(cfg.get("group", 5)), "--split", cfg.get("split", "others"),
                  "--recombine", cfg.get("recombine", "multiply")]
    sys.argv = flags
    if kind == "srnet":
        from common.common_pytorch.model.srnet import TemporalModel
    else:
        from common.common_pytorch.model.fc_baseline import TemporalModel
    model = TemporalModel(17, 2, 17, filter_widths=cfg["arc"], causal=cfg.get("causal", False), dropout=0.0,
                          channels=cfg.get("channels", 1024), dense=cfg.get("dense", False))
    x = torch.randn(2, spec["frames"], 17, 2)
elif kind == "videopose":
    from common.model import TemporalModel
    model = TemporalModel(17, 2, 17, **cfg)
    x = torch.randn(2, spec["frames"], 17, 2)
else:
    from src.model import LinearModel
    model = LinearModel(**cfg)
    x = torch.randn(8, 32)
with torch.no_grad():
    for name, m in model.named_modules():
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            m.weight.copy_(torch.rand_like(m.weight) + 0.5)
            m.bias.copy_(torch.randn_like(m.bias) * 0.1)
            m.running_mean.copy_(torch.randn_like(m.running_mean) * 0.1)
            m.running_var.copy_(torch.rand_like(m.running_var) + 0.5)
        elif isinstance(m, (torch.nn.Linear, torch.nn.Conv1d)):
            scale = 0.3 if ".m_conv." in name else 1.0
            m.weight.copy_((torch.rand_like(m.weight) * 2 - 1) * scale * (3.0 / m.weight[0].numel()) ** 0.5)
            if m.bias is not None:
                m.bias.copy_(torch.randn_like(m.bias) * 0.1)
    model.eval()
    y = model(x)
out = spec["out"]
st.save(out + "/weights.safetensors", {k: v.contiguous() for k, v in model.state_dict().items()}, {"format": "pt"})
st.save(out + "/input.safetensors", {"input": x.numpy()}, {})
st.save(out + "/expected.safetensors", {"output": y.numpy()}, {})
"""


def posegpu_config(kind, cfg):
    """The official flags / constructor arguments as posegpu --config pairs."""
    if kind in ("srnet", "fc"):
        pairs = {"filter_widths": ",".join(map(str, cfg["arc"])), "channels": cfg.get("channels", 1024),
                 "causal": cfg.get("causal", False), "dropout": 0, "norm": cfg.get("norm", "base")}
        if kind == "srnet":
            pairs.update(group=cfg.get("group", 5), split=cfg.get("split", "others"),
                         recombine=cfg.get("recombine", "multiply"))
        else:
            pairs["dense"] = cfg.get("dense", False)
    elif kind == "videopose":
        pairs = {k: (",".join(map(str, v)) if isinstance(v, list) else v) for k, v in cfg.items()}
    else:
        pairs = dict(cfg)
    return [f"{k}={str(v).lower() if isinstance(v, bool) else v}" for k, v in pairs.items()]


def check(kind, repo, name, cfg, frames, posegpu, seed):
    model = {"srnet": "srnet", "fc": "srnet_fc", "videopose": "videopose", "martinez": "martinez"}[kind]
    with tempfile.TemporaryDirectory() as out:
        spec = dict(kind=kind, repo=repo, fixtures=os.path.join(ROOT, "tests", "fixtures"), cfg=cfg,
                    frames=frames, out=out, seed=seed)
        r = subprocess.run([sys.executable, "-c", CHILD, json.dumps(spec)], capture_output=True, text=True)
        if r.returncode != 0:
            return False, f"official code failed: {r.stderr.strip().splitlines()[-1:]}"
        pairs = posegpu_config(kind, cfg)
        cmd = posegpu + ["run", model, "--weights", f"{out}/weights.safetensors", "--input",
                         f"{out}/input.safetensors", "--output", f"{out}/ours.safetensors"]
        cmd += ["--config", *pairs] if pairs else []
        r = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
        if r.returncode != 0:
            return False, f"posegpu run failed ({r.returncode}): {(r.stderr or r.stdout).strip()[-400:]}"
        ours = st.load(f"{out}/ours.safetensors")[0]["output"]
        ref = st.load(f"{out}/expected.safetensors")[0]["output"]
        if ours.shape != ref.shape:
            return False, f"shape {list(ours.shape)} != official {list(ref.shape)}"
        err, scale = float(np.abs(ours - ref).max()), float(np.abs(ref).max())
        return err <= 1e-4 * scale, f"max |ours - official| = {err:.3g} (scale {scale:.3g}), shape {list(ref.shape)}"


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--srnet", help="checkout of ailingzengzzz/Split-and-Recombine-Net")
    p.add_argument("--videopose", help="checkout of facebookresearch/VideoPose3D")
    p.add_argument("--martinez", help="checkout of weigq/3d_pose_baseline_pytorch")
    p.add_argument("--only", help="run only the cases whose name contains this")
    p.add_argument("--posegpu", default="deno run -A cli/main.ts", help="command that runs the posegpu CLI")
    a = p.parse_args()
    groups = [("srnet", a.srnet, SRNET), ("fc", a.srnet, FC), ("videopose", a.videopose, VIDEOPOSE),
              ("martinez", a.martinez, MARTINEZ)]
    failed = 0
    for kind, repo, cases in groups:
        if not repo:
            print(f"skipping {kind}: no checkout given")
            continue
        for i, (name, cfg, frames) in enumerate(cases):
            if a.only and a.only not in name:
                continue
            ok, msg = check(kind, os.path.abspath(repo), name, cfg, frames, a.posegpu.split(), 1000 + i)
            failed += not ok
            print(f"{'ok  ' if ok else 'FAIL'} {name}: {msg}", flush=True)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
