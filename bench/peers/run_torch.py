"""Peer-bench runner: PyTorch CPU (eager, eval, no_grad, BatchNorm unfolded as an eager user runs it) on the
reference modules of tests/fixtures (gen_models.Martinez, gen_image_models.PoseResNet(50, 17, 20)) with the
seeded weights peers.ts wrote. Usage: /usr/bin/python3 bench/peers/run_torch.py PLAN.json
"""
import json
import os
import re
import statistics
import sys
import time

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tests", "fixtures"))

plan = json.load(open(sys.argv[1]))
result = {"engine": "torch-cpu", "version": "", "results": [], "notes": []}
try:
    import numpy as np
    import torch
    import st
    import gen_models
    import gen_image_models

    torch.set_num_threads(os.cpu_count() or 1)
    result["version"] = f"PyTorch {torch.__version__} CPU eager"
    blas = re.findall(r"BLAS_INFO=([^,\s]+)", torch.__config__.show())
    result["notes"].append(f"{torch.get_num_threads()} threads, BLAS {blas[0] if blas else '?'}, "
                           f"mkldnn {torch.backends.mkldnn.is_available()}")
    shapes = {"lifter": [32], "posefix": [20, 256, 192]}
    for wid, shape in shapes.items():
        cases = [c for c in plan["cases"] if c["workload"] == wid]
        if not cases:
            continue
        tensors, _ = st.load(os.path.join(plan["cache"], f"{wid}.safetensors"))
        model = gen_models.Martinez() if wid == "lifter" else gen_image_models.PoseResNet(50, 17, 20)
        model.load_state_dict({k: torch.from_numpy(v) for k, v in tensors.items()}, strict=True)
        model.eval()
        allx = np.fromfile(os.path.join(plan["cache"], f"{wid}_input.f32"), dtype="<f4")
        per = int(np.prod(shape))
        for c in cases:
            print(json.dumps(result), flush=True)  # results so far: kept if the process is killed later
            try:
                x = allx[: c["batch"] * per].reshape([c["batch"], *shape])

                def run():
                    with torch.no_grad():
                        return model(torch.from_numpy(x)).numpy()

                # As workloads.ts timeCase: first call, warmups and reps bounded by plan["budgetMs"].
                start = t = time.perf_counter()
                last = run()
                first = last_ms = (time.perf_counter() - t) * 1000

                def left():
                    return plan["budgetMs"] - (time.perf_counter() - start) * 1000

                for _ in range(1, c["warmup"]):
                    if left() <= 2 * last_ms:
                        break
                    t = time.perf_counter()
                    last = run()
                    last_ms = (time.perf_counter() - t) * 1000
                times = []
                while len(times) < c["reps"] and (not times or left() > last_ms):
                    t = time.perf_counter()
                    last = run()
                    last_ms = (time.perf_counter() - t) * 1000
                    times.append(last_ms)
                print(f"{wid} B={c['batch']}: first {first:.0f} ms, median {statistics.median(times):.1f} ms",
                      file=sys.stderr, flush=True)
                out = os.path.join(plan.get("out") or os.path.join(plan["cache"], "out"), f"torch-cpu_{wid}_{c['batch']}.f32")
                np.ascontiguousarray(last, dtype="<f4").tofile(out)
                result["results"].append({"workload": wid, "batch": c["batch"], "firstMs": first,
                                          "medianMs": statistics.median(times), "times": times, "output": out})
            except Exception as e:  # noqa: BLE001 - one failing case must not end the run
                result["results"].append({"workload": wid, "batch": c["batch"], "error": str(e).splitlines()[0]})
except Exception as e:  # noqa: BLE001
    result["notes"].append(f"failed: {str(e).splitlines()[0] if str(e) else type(e).__name__}")
print(json.dumps(result))
