#!/usr/bin/env python3
"""Time `bash scripts/run.sh` to /readyz 200 and to the first answer (POST /api/ask), issue 14.

    python bench/start_twice.py <checkout> <data dir> <label>     # prints one JSON line

Run it with .venv/.installed* removed and an empty data dir (the first start: install and build),
then again (the second start: neither). Logs go to /tmp/starts/<label>.log.
"""
import json, os, signal, socket, subprocess, sys, time, urllib.request
from pathlib import Path

os.makedirs("/tmp/starts", exist_ok=True)

root = Path(sys.argv[1]); data = Path(sys.argv[2]); label = sys.argv[3]
s = socket.socket(); s.bind(("127.0.0.1", 0)); port = s.getsockname()[1]; s.close()
env = {k: v for k, v in os.environ.items() if not k.startswith("BOT_")}
env.update(BOT_DATA_DIR=str(data), BOT_PORT=str(port), BOT_ENV_FILE="", HF_HUB_OFFLINE="1",
           ANONYMIZED_TELEMETRY="False", GRADIO_ANALYTICS_ENABLED="False")
started = time.perf_counter()
proc = subprocess.Popen(["bash", "scripts/run.sh"], cwd=root, env=env, stdout=open(f"/tmp/starts/{label}.log", "w"),
                        stderr=subprocess.STDOUT, start_new_session=True)
ready = answer = None
try:
    while time.perf_counter() - started < 400:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as r:
                if r.status == 200:
                    ready = time.perf_counter() - started
                    break
        except Exception:
            time.sleep(0.2)
    req = urllib.request.Request(f"http://127.0.0.1:{port}/api/ask", data=json.dumps({"question": "What does warmth training cost?"}).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=60) as r:
        body = json.loads(r.read())
    answer = time.perf_counter() - started
    print(json.dumps({"label": label, "readyz_200_s": round(ready, 2), "first_answer_s": round(answer, 2),
                      "citations": len(body.get("citations", [])), "load": os.getloadavg()[0]}))
finally:
    os.killpg(proc.pid, signal.SIGTERM)
    proc.wait(timeout=30)
