#!/usr/bin/python3
"""A real RTSP server for Vedette's integration tests, built on GstRtspServer.

Run it with the system interpreter (`/usr/bin/python3`): Debian's `python3-gi` is installed for that
one only, not for a virtualenv or pyenv interpreter that may come first on PATH.

Protocol on stdout, one line each, flushed at once so a test can read it from a pipe:

    READY port=<port>        once, when the server listens (also when --port 0 picked a free port)
    REQUEST <METHOD>         each time the server has answered a request with success (OPTIONS,
                             DESCRIBE, SETUP, PLAY, PAUSE, TEARDOWN, GET_PARAMETER, SET_PARAMETER);
                             a request refused (401 Unauthorized, 404, ...) prints nothing

Everything else (GStreamer warnings, argument errors) goes to stderr. SIGTERM or SIGINT stops the
server and exits with status 0.

Note: GstRtspServer 1.22 can crash when many clients connect in the same instant; tests that open
several sessions should stagger them.
"""

import argparse
import signal
import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtsp", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtsp, GstRtspServer  # noqa: E402

# Signal emitted by GstRtspServer.RTSPClient after it handled a request -> RTSP method name.
REQUEST_SIGNALS = {
    "options-request": "OPTIONS",
    "describe-request": "DESCRIBE",
    "setup-request": "SETUP",
    "play-request": "PLAY",
    "pause-request": "PAUSE",
    "teardown-request": "TEARDOWN",
    "get-parameter-request": "GET_PARAMETER",
    "set-parameter-request": "SET_PARAMETER",
}


def announce(line):
    print(line, flush=True)


def h264_encoder_and_payloader(args):
    """x264 encoder and RTP payloader for `--codec h264`; the payloader must be named pay0."""
    bitrate_in_kbps = args.bitrate or default_bitrate_in_kbps(args)
    encoder = [
        "x264enc",
        "tune=zerolatency",
        "speed-preset=ultrafast",
        f"key-int-max={args.fps}",
        f"bitrate={bitrate_in_kbps}",
        # tune=zerolatency turns on sliced threads, which cut every picture into one slice per
        # thread: with the default thread count the slice count would follow the machine's cores.
        # One thread keeps the stream the same everywhere.
        "threads=1",
    ]
    if args.sliced:
        # Two slices per picture, as some cameras send. rtph264pay (config-interval=-1) puts
        # SPS/PPS in front of every IDR slice, so an IDR access unit reads
        # SPS PPS IDR-slice SPS PPS IDR-slice: parameter sets in the middle of an access unit, a
        # quirk clients must accept.
        encoder.append("option-string=slices=2")
    return [
        " ".join(encoder),
        "video/x-h264,profile=constrained-baseline",
        # config-interval=-1: SPS/PPS in-band with every IDR, so a late joiner can start decoding.
        "rtph264pay name=pay0 pt=96 config-interval=-1",
    ]


# Codec name -> function returning the encoder ... payloader elements (payloader named pay0).
# h265 (x265enc ! rtph265pay) and mjpeg (jpegenc ! rtpjpegpay) slot in here.
CODECS = {
    "h264": h264_encoder_and_payloader,
}


def default_bitrate_in_kbps(args):
    # About 2 Mbit/s for 720p25 and 4.5 Mbit/s for 1080p25: plenty for a bouncing ball.
    return max(500, args.width * args.height * args.fps // 11500)


def launch_description(args):
    source = [
        f"videotestsrc is-live=true pattern={args.pattern} horizontal-speed={args.scroll}",
        f"video/x-raw,width={args.width},height={args.height},framerate={args.fps}/1",
    ]
    return "( " + " ! ".join(source + CODECS[args.codec](args)) + " )"


def make_auth(args):
    """Returns an RTSPAuth that lets `args.user` play the factory, or None for `--auth none`."""
    if args.auth == "none":
        return None
    token = GstRtspServer.RTSPToken()
    token.set_string(GstRtspServer.RTSP_TOKEN_MEDIA_FACTORY_ROLE, args.user)
    auth = GstRtspServer.RTSPAuth()
    if args.auth == "basic":
        auth.set_supported_methods(GstRtsp.RTSPAuthMethod.BASIC)
        auth.add_basic(GstRtspServer.RTSPAuth.make_basic(args.user, args.password), token)
    else:
        auth.set_supported_methods(GstRtsp.RTSPAuthMethod.DIGEST)
        auth.add_digest(args.user, args.password, token)
    return auth


def make_permissions(args):
    permissions = GstRtspServer.RTSPPermissions()
    for permission in (
        GstRtspServer.RTSP_PERM_MEDIA_FACTORY_ACCESS,
        GstRtspServer.RTSP_PERM_MEDIA_FACTORY_CONSTRUCT,
    ):
        permissions.add_permission_for_role(args.user, permission, True)
    return permissions


def answer_not_seekable(_pad, info):
    query = info.get_query()
    if query.type != Gst.QueryType.SEEKING:
        return Gst.PadProbeReturn.OK
    # Nothing downstream of the payloader answers this query, so it still holds what
    # gst_query_new_seeking() put there: not seekable. (PyGObject holds a second reference, which
    # makes the query read-only here, so it is answered as it is.)
    return Gst.PadProbeReturn.HANDLED


def on_media_configure(_factory, media):
    """Makes the media answer "not seekable", as a camera's live stream is.

    GstRtspServer seeks a seekable pipeline when PLAY carries a Range header (FFmpeg and most
    clients send `Range: npt=0.000-`); the flushing seek restarts the RTP timestamps of every
    client of a shared media. A media that is not seekable plays on without seeking.
    """
    payloader = media.get_element().get_by_name("pay0")
    payloader.get_static_pad("src").add_probe(Gst.PadProbeType.QUERY_UPSTREAM, answer_not_seekable)


def on_client_connected(_server, client):
    for signal_name, method in REQUEST_SIGNALS.items():
        client.connect(signal_name, lambda _client, _context, m=method: announce(f"REQUEST {m}"))


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--address", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=8554, help="0 picks a free port")
    parser.add_argument("--path", default="/test", help="mount point (default /test)")
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--height", type=int, default=720)
    parser.add_argument("--fps", type=int, default=25)
    parser.add_argument(
        "--pattern", default="ball", help="videotestsrc pattern (ball, smpte, snow, ...)"
    )
    parser.add_argument(
        "--scroll", type=int, default=0, help="pixels per frame the pattern scrolls sideways"
    )
    parser.add_argument("--bitrate", type=int, default=0, help="kbit/s; 0 scales with the size")
    parser.add_argument("--codec", choices=sorted(CODECS), default="h264")
    parser.add_argument("--auth", choices=["none", "basic", "digest"], default="none")
    parser.add_argument("--user", default="admin")
    parser.add_argument("--password", default="secret")
    parser.add_argument(
        "--sliced", action="store_true", help="two slices per picture, SPS/PPS between IDR slices"
    )
    parser.add_argument(
        "--shared", action="store_true", help="all clients share one pipeline and RTP timestamps"
    )
    args = parser.parse_args(argv)
    if not args.path.startswith("/"):
        parser.error("--path must start with /")
    if args.sliced and args.codec != "h264":
        parser.error("--sliced only applies to --codec h264")
    return args


def main(argv):
    args = parse_args(argv)
    Gst.init(None)

    factory = GstRtspServer.RTSPMediaFactory()
    factory.set_launch(launch_description(args))
    factory.set_shared(args.shared)
    factory.set_protocols(GstRtsp.RTSPLowerTrans.TCP | GstRtsp.RTSPLowerTrans.UDP)
    factory.connect("media-configure", on_media_configure)

    server = GstRtspServer.RTSPServer()
    server.set_address(args.address)
    server.set_service(str(args.port))
    auth = make_auth(args)
    if auth is not None:
        server.set_auth(auth)
        factory.set_permissions(make_permissions(args))
    server.get_mount_points().add_factory(args.path, factory)
    server.connect("client-connected", on_client_connected)

    loop = GLib.MainLoop()

    def stop():
        loop.quit()
        return GLib.SOURCE_REMOVE

    for signum in (signal.SIGTERM, signal.SIGINT):
        GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signum, stop)

    if server.attach(None) == 0:
        print(f"cannot listen on {args.address}:{args.port}", file=sys.stderr)
        return 1
    announce(f"READY port={server.get_bound_port()}")
    loop.run()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
