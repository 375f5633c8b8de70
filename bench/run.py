#!/usr/bin/python3
"""`make bench`: Vedette's receive path and window against ffmpeg and a retina client.

For 1, 4, 9 and 16 tiles of 720p30 H.264 from one GstRtspServer (shared media; clients start
0.2 s apart, since GstRtspServer 1.22 can crash when many connect in the same instant), it
measures the CPU (% of one core), resident memory and decoded frames per second of:

* `vedette bench`: network, depacketize, decode, hand-off to the latest-frame slot; no window
* the full app (`vedette --config ...`) under Xvfb (software rendering here: llvmpipe)
* `ffmpeg -rtsp_transport tcp -i URL -f null -`, one process per tile
* `examples/retina_client.rs`: retina + ffmpeg-next, the minimal independent client

CPU and memory are read from /proc for every client the same way, over the same window after
warm-up. Then capture->decoded latency p50/p95 for Vedette and the retina client, read from a
Vedette demo-server stream whose pictures carry their capture time.

The headless pair (vedette bench, retina) runs BENCH_ROUNDS times, alternating, and the table
shows medians with each round's CPU ratio below it. Then the pair runs side by side, on one
server over one window, BENCH_ROUNDS times more: drift on the machine falls on both alike, so
that ratio is the steadier one (its CPU figures are not the table's, two clients sharing two
cores). Capture->on-screen latency is read back
from the window's pixels for the app and for two GStreamer players of the same stream:
ximagesink (CPU colour conversion, a blit) and glimagesink (GL textures and a shader, like
Vedette; on this machine both GL paths run on llvmpipe).

Environment: BENCH_TILES="1 4 9 16", BENCH_SECONDS=10, BENCH_ROUNDS=3.
"""

import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VEDETTE = os.path.join(ROOT, "target", "release", "vedette")
RETINA = os.path.join(ROOT, "target", "release", "examples", "retina_client")
SCREEN_LATENCY = os.path.join(ROOT, "target", "release", "examples", "screen_latency")
GST_SERVER = os.path.join(ROOT, "tests", "support", "gst_rtsp_server.py")
TICKS = os.sysconf("SC_CLK_TCK")
STAGGER = 0.2
MEASURE = float(os.environ.get("BENCH_SECONDS", "10"))
TILES = [int(t) for t in os.environ.get("BENCH_TILES", "1 4 9 16").split()]
ROUNDS = max(1, int(os.environ.get("BENCH_ROUNDS", "3")))


def warmup_for(tiles):
    return STAGGER * tiles + 3.0


def cpu_seconds(pids):
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime
        except (OSError, IndexError, ValueError):
            pass
    return total / TICKS


def rss_mib(pids):
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
        except OSError:
            pass
    return total / 1024


class Window:
    """CPU and peak RSS of some processes over [start + warmup, + MEASURE]."""

    def __init__(self, pids_fn, warmup):
        self.pids_fn, self.warmup = pids_fn, warmup
        self.cpu = self.rss = 0.0

    def run(self, start):
        time.sleep(max(0.0, start + self.warmup - time.monotonic()))
        before, t0 = cpu_seconds(self.pids_fn()), time.monotonic()
        peak = 0.0
        while time.monotonic() - t0 < MEASURE:
            peak = max(peak, rss_mib(self.pids_fn()))
            time.sleep(0.5)
        self.cpu = 100.0 * (cpu_seconds(self.pids_fn()) - before) / (time.monotonic() - t0)
        self.rss = peak


def lines_of(stream, sink):
    def pump():
        for line in iter(stream.readline, ""):
            sink.append(line.rstrip("\n"))

    t = threading.Thread(target=pump, daemon=True)
    t.start()
    return t


def start_gst(width, height, fps):
    proc = subprocess.Popen(
        ["/usr/bin/python3", GST_SERVER, "--port", "0", "--width", str(width), "--height",
         str(height), "--fps", str(fps), "--shared", "--pattern", "smpte", "--scroll", "4"],
        stdout=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    if not line.startswith("READY port="):
        sys.exit(f"gst server did not start: {line!r}")
    return proc, f"rtsp://127.0.0.1:{line.split('=')[1].strip()}/test"


def with_server(run):
    """`run(url)` against a GstRtspServer of its own: after many sessions at 16 tiles, one
    GstRtspServer 1.22 process was seen to stop answering, which would end every later row."""
    gst, url = start_gst(1280, 720, 30)
    try:
        return run(url)
    finally:
        gst.terminate()
        gst.wait()


def json_client(cmd, warmup):
    start = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    window = Window(lambda: [proc.pid], warmup)
    window.run(start)
    try:
        out, _ = proc.communicate(timeout=60)
        report = json.loads(out.strip().splitlines()[-1])
    except (subprocess.TimeoutExpired, ValueError, IndexError) as e:
        # One client that hangs or says nothing costs its row, not the whole run.
        proc.kill()
        proc.communicate()
        print(f"  {os.path.basename(cmd[0])} gave no report: {e}", file=sys.stderr, flush=True)
        return window.cpu, window.rss, float("nan"), float("nan"), {}
    if report.get("errors"):
        print(f"  {os.path.basename(cmd[0])}: {report['errors']}", file=sys.stderr, flush=True)
    return window.cpu, window.rss, report["fps_mean"], report["fps_min"], report


def vedette_bench(url, tiles, stagger=STAGGER, warmup=None):
    w = warmup or warmup_for(tiles)
    return json_client([VEDETTE, "bench", url, "--tiles", str(tiles), "--warmup", str(w),
                        "--seconds", str(MEASURE), "--stagger-ms", str(round(stagger * 1000))],
                       w)


def retina_client(url, tiles, stagger=STAGGER, warmup=None):
    w = warmup or warmup_for(tiles)
    return json_client([RETINA, url, str(tiles), str(w), str(MEASURE),
                        str(round(stagger * 1000))], w)


def headless_pair(url, tiles, vedette_first):
    """Vedette's headless client and the retina client at the same time, on the same server,
    measured over the same window: whatever else the machine does then (another tenant, the
    server, a frequency change) falls on both alike, where one after the other it moved
    single rounds by 10 % and more. Each client spaces its sessions 2 x STAGGER apart and the
    second starts STAGGER after the first, so sessions still open STAGGER apart."""
    clients = [("vedette bench (headless)", vedette_bench), ("retina + ffmpeg-next", retina_client)]
    if not vedette_first:
        clients.reverse()
    warmup = 2 * STAGGER * tiles + 3.0
    results = {}

    def run(name, client, delay):
        time.sleep(delay)
        results[name] = client(url, tiles, stagger=2 * STAGGER, warmup=warmup - delay)[:4]

    threads = [threading.Thread(target=run, args=(name, client, i * STAGGER))
               for i, (name, client) in enumerate(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def ffmpeg_clients(url, tiles):
    w = warmup_for(tiles)
    start = time.monotonic()
    procs, outputs = [], []
    for _ in range(tiles):
        lines = []
        p = subprocess.Popen(
            ["ffmpeg", "-nostdin", "-loglevel", "error", "-rtsp_transport", "tcp", "-i", url,
             "-f", "null", "-", "-progress", "pipe:1", "-stats_period", "0.25"],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        lines_of(p.stdout, lines)
        procs.append(p)
        outputs.append(lines)
        time.sleep(STAGGER)

    def frames(lines):
        for line in reversed(lines):
            if line.startswith("frame="):
                return int(line.split("=")[1])
        return 0

    window = Window(lambda: [p.pid for p in procs], w)
    result = {}

    def count():
        time.sleep(max(0.0, start + w - time.monotonic()))
        result["before"] = [frames(o) for o in outputs]
        time.sleep(MEASURE)
        result["after"] = [frames(o) for o in outputs]

    counter = threading.Thread(target=count)
    counter.start()
    window.run(start)
    counter.join()
    for p in procs:
        p.send_signal(signal.SIGINT)
    for p in procs:
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            p.kill()
    fps = [(a - b) / MEASURE for a, b in zip(result["after"], result["before"])]
    return window.cpu, window.rss, sum(fps) / len(fps), min(fps), None


def start_app(tmp, url, tiles, display, overlays):
    """Starts the app on `display` with `tiles` cameras of `url`, its window filling the screen.
    Returns the process and the list its log lines are collected into."""
    config = os.path.join(tmp, "config.toml")
    with open(config, "w") as f:
        for i in range(tiles):
            f.write(f'[[cameras]]\nname = "Camera {i + 1}"\nurl = "{url}"\n\n')
    with open(os.path.join(tmp, "config.ui-state.toml"), "w") as f:
        f.write("window_size = [1280.0, 720.0]\n")
        if not overlays:
            f.write("overlays_hidden = true\n")
    env = dict(os.environ, DISPLAY=display, VEDETTE_LOG="info")
    env.pop("WAYLAND_DISPLAY", None)
    lines = []
    proc = subprocess.Popen([VEDETTE, "--config", config], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    lines_of(proc.stderr, lines)
    return proc, lines


def full_app(url, tiles, display):
    w = warmup_for(tiles) + 2.0
    with tempfile.TemporaryDirectory() as tmp:
        start = time.monotonic()
        proc, lines = start_app(tmp, url, tiles, display, overlays=True)
        window = Window(lambda: [proc.pid], w)
        window.run(start)
        # The app logs the frames it showed every 5 s; take the reports from the window.
        shown = [l for l in lines if "shown fps mean" in l]
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        if not shown:
            return window.cpu, window.rss, 0.0, 0.0, None
        words = shown[-1].replace(",", " ").split()
        mean = float(words[words.index("mean") + 1])
        low = float(words[words.index("min") + 1])
        return window.cpu, window.rss, mean, low, None


def screen_latency(display, rect):
    x, y, w, h = rect
    out = subprocess.run([SCREEN_LATENCY, display, str(x), str(y), str(w), str(h), str(MEASURE)],
                         capture_output=True, text=True, timeout=MEASURE + 30).stdout
    return json.loads(out.strip().splitlines()[-1])


def vedette_on_screen(url, display):
    """The app showing one demo camera; the tile logs where its video is drawn."""
    with tempfile.TemporaryDirectory() as tmp:
        proc, lines = start_app(tmp, url, 1, display, overlays=False)
        try:
            deadline = time.monotonic() + 20
            rect = None
            while rect is None and time.monotonic() < deadline:
                for line in lines:
                    if "video at" in line:
                        words = dict(w.split("=") for w in line.split() if "=" in w)
                        rect = tuple(int(float(words[k])) for k in ("x", "y", "w", "h"))
                time.sleep(0.1)
            if rect is None:
                return {}
            time.sleep(2.0)
            return screen_latency(display, rect)
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()


def gstreamer_on_screen(url, display, sink):
    """GStreamer's own player, unscaled at the top left of the screen. `sink` is the end of the
    pipeline after decodebin: ximagesink (CPU colour conversion, a blit) or glimagesink (planes
    uploaded to GL textures and converted in a shader, as Vedette does)."""
    env = dict(os.environ, DISPLAY=display)
    proc = subprocess.Popen(["gst-launch-1.0", "-q", "rtspsrc", f"location={url}", "latency=0",
                             "!", "decodebin", "!"] + sink + ["sync=false"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(4.0)
        return screen_latency(display, (0, 0, 1280, 720))
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


def main():
    for path in (VEDETTE, RETINA, SCREEN_LATENCY):
        if not os.path.exists(path):
            sys.exit(f"{path} is missing: run `make bench`, which builds it")
    xvfb_display = ":87"
    xvfb = subprocess.Popen(["Xvfb", xvfb_display, "-screen", "0", "1280x720x24", "-nolisten",
                             "tcp"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(1.0)
    rows = []
    ratios = {}
    side_by_side = {}
    for tiles in TILES:
        results = {}
        # The headless pair runs ROUNDS times, alternating, and the table gives medians:
        # on a small machine one run of each is within the noise of the other.
        rounds = {"vedette bench (headless)": [], "retina + ffmpeg-next": []}
        for r in range(ROUNDS):
            for name, run in (("vedette bench (headless)", vedette_bench),
                              ("retina + ffmpeg-next", retina_client)):
                rounds[name].append(with_server(lambda url: run(url, tiles))[:4])
                print(f"  measured {tiles:2} tiles: {name} (round {r + 1}/{ROUNDS})",
                      file=sys.stderr, flush=True)
        # The ratio once more with both at the same time, which the machine's drift cannot
        # tell apart (their CPU figures are not the table's: two clients share two cores).
        side_by_side[tiles] = []
        for r in range(ROUNDS):
            pair = with_server(lambda url: headless_pair(url, tiles, r % 2 == 0))
            vedette, retina = pair["vedette bench (headless)"], pair["retina + ffmpeg-next"]
            if retina[0] > 0 and min(vedette[3], retina[3]) > 0:
                side_by_side[tiles].append(vedette[0] / retina[0])
            print(f"  measured {tiles:2} tiles: vedette bench and retina side by side "
                  f"(round {r + 1}/{ROUNDS}), fps min {vedette[3]:.1f} and {retina[3]:.1f}",
                  file=sys.stderr, flush=True)
        for name, runs in rounds.items():
            results[name] = (statistics.median(c for c, _, _, _ in runs),
                             statistics.median(m for _, m, _, _ in runs),
                             statistics.mean(f for _, _, f, _ in runs),
                             min(f for _, _, _, f in runs))
        ratios[tiles] = [v[0] / r[0] for v, r in zip(rounds["vedette bench (headless)"],
                                                     rounds["retina + ffmpeg-next"])
                         if r[0] > 0]
        for name, run in (("ffmpeg -f null", lambda url: ffmpeg_clients(url, tiles)),
                          ("vedette app (Xvfb, llvmpipe)",
                           lambda url: full_app(url, tiles, xvfb_display))):
            cpu, rss, fps, fps_min, _ = with_server(run)
            results[name] = (cpu, rss, fps, fps_min)
            print(f"  measured {tiles:2} tiles: {name}", file=sys.stderr, flush=True)
        rows.append((tiles, results))

    demo = subprocess.Popen([VEDETTE, "demo-server", "--port", "0", "--cameras", "1", "--width",
                             "1280", "--height", "720", "--fps", "30"], stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True)
    demo_line = demo.stdout.readline()
    demo_url = demo_line.split("listening on ")[1].split()[0]
    latency = {}
    try:
        for name, run in (("vedette bench (headless)", lambda: vedette_bench(demo_url, 1)),
                          ("retina + ffmpeg-next", lambda: retina_client(demo_url, 1))):
            report = run()[4]
            latency[name] = (report.get("latency_p50_ms"), report.get("latency_p95_ms"))
        on_screen = {
            "vedette app (Xvfb, llvmpipe)": vedette_on_screen(demo_url, xvfb_display),
            "gst-launch-1.0 ... ximagesink": gstreamer_on_screen(
                demo_url, xvfb_display, ["videoconvert", "!", "ximagesink"]),
            "gst-launch-1.0 ... glimagesink": gstreamer_on_screen(
                demo_url, xvfb_display, ["glupload", "!", "glcolorconvert", "!", "glimagesink"]),
        }
    finally:
        demo.terminate()
        demo.wait()
        xvfb.terminate()
        xvfb.wait()

    print()
    print(f"Receiving 720p30 H.264 from one GstRtspServer, {MEASURE:.0f} s measured after warm-up")
    print(f"{'tiles':>5}  {'client':<30} {'CPU %':>7} {'RSS MiB':>8} {'fps mean':>9} "
          f"{'fps min':>8} {'CPU/retina':>11} {'CPU/ffmpeg':>11}")
    for tiles, results in rows:
        retina_cpu = results["retina + ffmpeg-next"][0] or float("nan")
        ffmpeg_cpu = results["ffmpeg -f null"][0] or float("nan")
        for name, (cpu, rss, fps, fps_min) in results.items():
            print(f"{tiles:>5}  {name:<30} {cpu:7.1f} {rss:8.1f} {fps:9.1f} {fps_min:8.1f} "
                  f"{cpu / retina_cpu:10.2f}x {cpu / ffmpeg_cpu:10.2f}x")
    print(f"Headless rows: medians of {ROUNDS} alternating rounds. Vedette/retina CPU per round:")
    for tiles, r in ratios.items():
        each = " ".join(f"{x:.2f}" for x in r)
        median = statistics.median(r) if r else float("nan")
        print(f"  {tiles:2} tiles: {each}   median {median:.2f}x")
    print("Vedette/retina CPU with the two side by side (same server, same window), per round:")
    for tiles, r in side_by_side.items():
        each = " ".join(f"{x:.3f}" for x in r)
        median = statistics.median(r) if r else float("nan")
        print(f"  {tiles:2} tiles: {each}   median {median:.3f}x")
    print()
    print("Capture -> decoded latency, Vedette demo server 720p30 (time code in the picture)")
    for name, (p50, p95) in latency.items():
        print(f"  {name:<30} p50 {p50} ms   p95 {p95} ms")
    print()
    print("Capture -> on screen latency, same stream, read back from the window's pixels (x11grab)")
    for name, r in on_screen.items():
        print(f"  {name:<30} p50 {r.get('latency_p50_ms')} ms   p95 {r.get('latency_p95_ms')} ms"
              f"   ({r.get('frames_seen')} pictures seen in {MEASURE:.0f} s)")


if __name__ == "__main__":
    main()
