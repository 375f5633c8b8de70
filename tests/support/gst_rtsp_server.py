#!/usr/bin/python3
"""A real RTSP server for Vedette's integration tests, built on GstRtspServer.

Run it with the system interpreter (`/usr/bin/python3`): Debian's `python3-gi` is installed for that
one only, not for a virtualenv or pyenv interpreter that may come first on PATH.

Protocol on stdout, one line each, flushed at once so a test can read it from a pipe:

    READY port=<port>        once, when the server listens (also when --port 0 picked a free port)
    REQUEST <METHOD>         each time the server has answered a request with success (OPTIONS,
                             DESCRIBE, SETUP, PLAY, PAUSE, TEARDOWN, GET_PARAMETER, SET_PARAMETER);
                             a request refused (401 Unauthorized, 404, ...) prints nothing
    REQUEST <METHOD> session=<id>
                             right after that line, when the request belongs to an RTSP session:
                             it carried a Session header (PLAY, PAUSE, TEARDOWN, keep-alives), or
                             it is the SETUP that created or joined the session
    RTCP RR ssrc=<reporter> source=<reported> fraction=<0..255> lost=<cumulative> highest=<ext seq>
            jitter=<clock units> lsr=<> dlsr=<> stream=<n>
                             (one line) for every report block in an RTCP RR or SR the server
                             receives from a client, over UDP or TCP-interleaved; stream is the
                             payloader index (0 video, 1 audio); lsr and dlsr are raw RFC 3550
                             fields
    DROPPED total=<n>        every second with --loss-every: RTP packets of pay0 dropped so far,
                             all media of this server together

The plain `REQUEST <METHOD>` line stays exactly as it was, so parsers that compare whole lines keep
counting each request once.

With --tls-cert/--tls-key every connection is TLS (rtsps://, RTP interleaved on it or plain UDP).

Everything else (GStreamer warnings, argument errors) goes to stderr. SIGTERM or SIGINT stops the
server and exits with status 0.

Note: GstRtspServer 1.22 can crash when many clients connect in the same instant; tests that open
several sessions should stagger them.
"""

import argparse
import signal
import struct
import sys
import threading

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtsp", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import Gio, GLib, Gst, GstRtsp, GstRtspServer  # noqa: E402

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


_announce_lock = threading.Lock()


def announce(line):
    # Streaming threads (RTCP, loss) print too: one whole line at a time.
    with _announce_lock:
        print(line, flush=True)


def h264_encoder_and_payloader(args):
    """x264 encoder and RTP payloader for `--codec h264`; the payloader must be named pay0."""
    bitrate_in_kbps = args.bitrate or default_bitrate_in_kbps(args)
    encoder = [
        "x264enc",
        "tune=zerolatency",
        "speed-preset=ultrafast",
        f"key-int-max={args.fps * args.keyframe_every}",
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


def h265_encoder_and_payloader(args):
    """x265 encoder and RTP payloader for `--codec h265`."""
    bitrate_in_kbps = args.bitrate or default_bitrate_in_kbps(args)
    return [
        # 8-bit 4:2:0 as cameras send it; left open, x265 negotiates 4:4:4 12-bit.
        f"capsfilter caps=video/x-raw,format={args.pixel_format}",
        "x265enc tune=zerolatency speed-preset=ultrafast"
        f" key-int-max={args.fps * args.keyframe_every} bitrate={bitrate_in_kbps}",
        "video/x-h265",
        # config-interval=-1: VPS/SPS/PPS in-band with every IRAP picture.
        "rtph265pay name=pay0 pt=96 config-interval=-1",
    ]


def mjpeg_encoder_and_payloader(_args):
    """JPEG encoder and RFC 2435 payloader for `--codec mjpeg` (static payload type 26)."""
    # RFC 2435 carries 4:2:0 or 4:2:2 only: left alone, the pipeline may negotiate a format whose
    # JPEG rtpjpegpay rejects ("Invalid component") and the media never prepares.
    return ["capsfilter caps=video/x-raw,format=I420", "jpegenc", "rtpjpegpay name=pay0 pt=26"]


# Codec name -> function returning the encoder ... payloader elements (payloader named pay0).
CODECS = {
    "h264": h264_encoder_and_payloader,
    "h265": h265_encoder_and_payloader,
    "mjpeg": mjpeg_encoder_and_payloader,
}

AAC_ENCODERS = ("avenc_aac", "voaacenc", "fdkaacenc")


def aac_encoder():
    for name in AAC_ENCODERS:
        if Gst.ElementFactory.find(name) is not None:
            return name
    raise SystemExit(f"--audio aac needs one of {', '.join(AAC_ENCODERS)}")


def audio_elements(audio):
    """The `--audio` branch, ending in the payloader pay1 (a 440 Hz sine)."""
    if audio == "aac":
        rate, encoder, payloader = 48000, aac_encoder(), "rtpmp4gpay pt=97"  # mpeg4-generic
    elif audio == "opus":
        rate, encoder, payloader = 48000, "opusenc", "rtpopuspay pt=97"
    elif audio == "pcmu":
        rate, encoder, payloader = 8000, "mulawenc", "rtppcmupay pt=0"
    else:
        rate, encoder, payloader = 8000, "alawenc", "rtppcmapay pt=8"
    return [
        # 20 ms buffers, so G.711 packets carry 20 ms as cameras send them.
        f"audiotestsrc is-live=true wave=sine freq=440 samplesperbuffer={rate // 50}",
        "audioconvert",
        "audioresample",
        f"audio/x-raw,rate={rate},channels=1",
        encoder,
        f"{payloader} name=pay1",
    ]


def default_bitrate_in_kbps(args):
    # About 2 Mbit/s for 720p25 and 4.5 Mbit/s for 1080p25: plenty for a bouncing ball.
    return max(500, args.width * args.height * args.fps // 11500)


def launch_description(args):
    source = [
        f"videotestsrc is-live=true pattern={args.pattern} horizontal-speed={args.scroll}",
        f"video/x-raw,width={args.width},height={args.height},framerate={args.fps}/1,"
        f"pixel-aspect-ratio={args.pixel_aspect}",
    ]
    branches = [" ! ".join(source + CODECS[args.codec](args))]
    if args.audio != "none":
        branches.append(" ! ".join(audio_elements(args.audio)))
    return "( " + "  ".join(branches) + " )"


def make_auth(args):
    """Returns an RTSPAuth that lets `args.user` play the factory (and serves TLS with
    `--tls-cert`), or None for `--auth none` without TLS."""
    if args.auth == "none" and not args.tls_cert:
        return None
    token = GstRtspServer.RTSPToken()
    token.set_string(GstRtspServer.RTSP_TOKEN_MEDIA_FACTORY_ROLE, args.user)
    auth = GstRtspServer.RTSPAuth()
    if args.tls_cert:
        # Every connection to this server is then TLS (rtsps://).
        auth.set_tls_certificate(Gio.TlsCertificate.new_from_files(args.tls_cert, args.tls_key))
    if args.auth == "none":
        # TLS only: anyone gets the role the factory permits.
        auth.set_default_token(token)
    elif args.auth == "basic":
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


class PacketDropper:
    """Drops every `every`-th RTP packet leaving a payloader (after its sequence numbers were
    assigned, so receivers see gaps). Counts across all media of the server."""

    def __init__(self, every):
        self.every = every
        self.lock = threading.Lock()
        self.total = 0
        self.reentered = threading.local()

    def attach(self, pad):
        counter = [0]  # packets seen on this pad
        pad.add_probe(
            Gst.PadProbeType.BUFFER | Gst.PadProbeType.BUFFER_LIST, self._probe, counter
        )

    def _drop_next(self, counter):
        counter[0] += 1
        if counter[0] % self.every:
            return False
        with self.lock:
            self.total += 1
        return True

    def _probe(self, pad, info, counter):
        if getattr(self.reentered, "on", False):
            return Gst.PadProbeReturn.OK  # the list pushed below, already thinned out
        if info.type & Gst.PadProbeType.BUFFER:
            return Gst.PadProbeReturn.DROP if self._drop_next(counter) else Gst.PadProbeReturn.OK
        packets = info.get_buffer_list()
        keep = [i for i in range(packets.length()) if not self._drop_next(counter)]
        if len(keep) == packets.length():
            return Gst.PadProbeReturn.OK
        # The list is not writable from Python: push a copy without the dropped packets instead.
        if keep:
            thinned = Gst.BufferList.new_sized(len(keep))
            for i in keep:
                thinned.insert(-1, packets.get(i))
            self.reentered.on = True
            try:
                pad.push_list(thinned)
            finally:
                self.reentered.on = False
        return Gst.PadProbeReturn.DROP

    def report(self):
        with self.lock:
            total = self.total
        announce(f"DROPPED total={total}")
        return GLib.SOURCE_CONTINUE


def report_blocks(data):
    """Yields (reporter ssrc, report block fields) for each report block of a compound RTCP
    packet: those of receiver reports (PT 201) and of sender reports (PT 200)."""
    offset = 0
    while offset + 8 <= len(data):
        first, packet_type, length_in_words = struct.unpack_from("!BBH", data, offset)
        end = offset + 4 * (length_in_words + 1)
        if first >> 6 != 2 or end > len(data):
            return
        count = first & 0x1F
        if packet_type in (200, 201):
            (reporter,) = struct.unpack_from("!I", data, offset + 4)
            block = offset + (28 if packet_type == 200 else 8)
            for _ in range(count):
                if block + 24 > end:
                    break
                source, lost_word, highest, jitter, lsr, dlsr = struct.unpack_from(
                    "!IIIIII", data, block
                )
                lost = lost_word & 0xFFFFFF
                if lost & 0x800000:
                    lost -= 0x1000000
                yield reporter, (source, lost_word >> 24, lost, highest, jitter, lsr, dlsr)
                block += 24
        offset = end


def on_receiving_rtcp(_session, buffer, stream_index):
    data = buffer.extract_dup(0, buffer.get_size())
    for reporter, (source, fraction, lost, highest, jitter, lsr, dlsr) in report_blocks(data):
        announce(
            f"RTCP RR ssrc={reporter} source={source} fraction={fraction} lost={lost}"
            f" highest={highest} jitter={jitter} lsr={lsr} dlsr={dlsr} stream={stream_index}"
        )


def on_media_prepared(media):
    """Reports the RTCP report blocks clients send for each stream (UDP and TCP-interleaved both
    reach the stream's RTPSession)."""
    for index in range(media.n_streams()):
        stream = media.get_stream(index)
        session = stream.get_rtpsession()
        if session is not None:
            session.connect("on-receiving-rtcp", on_receiving_rtcp, stream.get_index())


def on_media_configure(_factory, media, dropper):
    """Makes the media answer "not seekable", as a camera's live stream is.

    GstRtspServer seeks a seekable pipeline when PLAY carries a Range header (FFmpeg and most
    clients send `Range: npt=0.000-`); the flushing seek restarts the RTP timestamps of every
    client of a shared media. A media that is not seekable plays on without seeking.
    """
    pipeline = media.get_element()
    for name in ("pay0", "pay1"):
        payloader = pipeline.get_by_name(name)
        if payloader is not None:
            payloader.get_static_pad("src").add_probe(
                Gst.PadProbeType.QUERY_UPSTREAM, answer_not_seekable
            )
    if dropper is not None:
        dropper.attach(pipeline.get_by_name("pay0").get_static_pad("src"))
    media.connect("prepared", on_media_prepared)


def session_id(context):
    """The id of the RTSP session a request belongs to, or None."""
    if context.session is not None:
        return context.session.get_sessionid()
    if context.request is not None:
        result, value = context.request.get_header(GstRtsp.RTSPHeaderField.SESSION, 0)
        if result == GstRtsp.RTSPResult.OK and value:
            return value.split(";", 1)[0].strip()
    return None


def on_request(_client, context, method):
    announce(f"REQUEST {method}")
    session = session_id(context)
    if session:
        announce(f"REQUEST {method} session={session}")


def on_client_connected(_server, client):
    for signal_name, method in REQUEST_SIGNALS.items():
        client.connect(signal_name, on_request, method)


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
    parser.add_argument(
        "--keyframe-every",
        type=int,
        default=1,
        metavar="SECONDS",
        help="seconds between keyframes (H.264 and H.265; cameras use 1 to 10 and more)",
    )
    parser.add_argument("--codec", choices=sorted(CODECS), default="h264")
    parser.add_argument(
        "--audio",
        choices=["none", "aac", "opus", "pcmu", "pcma"],
        default="none",
        help="adds a sine-wave audio stream (pay1) to the media",
    )
    parser.add_argument(
        "--loss-every",
        type=int,
        default=0,
        metavar="N",
        help="drop every Nth RTP packet of pay0 after the payloader (0: none)",
    )
    parser.add_argument(
        "--pixel-format",
        default="I420",
        help="raw format fed to x265enc (e.g. Y444_12LE for a Main 4:4:4 12-bit stream)",
    )
    parser.add_argument(
        "--pixel-aspect",
        default="1/1",
        help="sample aspect ratio written into the stream (e.g. 4/3 for an anamorphic camera)",
    )
    parser.add_argument(
        "--protocols",
        choices=["tcp", "udp", "both"],
        default="both",
        help="lower transports offered; a refused one is answered 461",
    )
    parser.add_argument("--tls-cert", metavar="FILE", help="PEM certificate: serve rtsps://")
    parser.add_argument("--tls-key", metavar="FILE", help="PEM private key for --tls-cert")
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
    if bool(args.tls_cert) != bool(args.tls_key):
        parser.error("--tls-cert and --tls-key go together")
    if args.keyframe_every < 1:
        parser.error("--keyframe-every must be at least 1")
    if args.loss_every < 0 or args.loss_every == 1:
        parser.error("--loss-every must be 0 (off) or at least 2")
    return args


def main(argv):
    args = parse_args(argv)
    Gst.init(None)

    factory = GstRtspServer.RTSPMediaFactory()
    factory.set_launch(launch_description(args))
    factory.set_shared(args.shared)
    factory.set_protocols(
        {
            "tcp": GstRtsp.RTSPLowerTrans.TCP,
            "udp": GstRtsp.RTSPLowerTrans.UDP,
            "both": GstRtsp.RTSPLowerTrans.TCP | GstRtsp.RTSPLowerTrans.UDP,
        }[args.protocols]
    )
    dropper = PacketDropper(args.loss_every) if args.loss_every else None
    factory.connect("media-configure", on_media_configure, dropper)

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
    if dropper is not None:
        GLib.timeout_add_seconds(1, dropper.report)
    loop.run()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
