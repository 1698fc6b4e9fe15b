"""``spikestream send FILE udp://HOST:PORT``: replay a recording as SPIF over UDP.

Stands in for a live camera on a SPIF link: the events leave at their
recorded pace (``--speed 1``), faster (``--speed 2x``) or as fast as possible
(``--speed max``), as SPIF event words (see :mod:`spikestream.streams.spif`).
"""

from __future__ import annotations

import argparse
import sys
from urllib.parse import urlsplit

from ..streams.errors import SourceError, SpikestreamError
from ..streams.open import open_source
from ..streams.pacing import parse_speed
from ..streams.sender import DEFAULT_MAX_DATAGRAM_BYTES, looped, send_events


def _speed(text: str) -> float | None:
    try:
        return parse_speed(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def parse_destination(uri: str) -> tuple[str, int]:
    """``udp://HOST:PORT`` -> ``(host, port)``.

    Raises:
        SourceError: not a ``udp://`` URI with a host and a port.
    """
    parts = urlsplit(uri)
    try:
        port = parts.port
    except ValueError:
        port = None
    if parts.scheme != "udp" or not parts.hostname or port is None:
        raise SourceError(uri, "destination must look like udp://HOST:PORT")
    return parts.hostname, port


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "send",
        help="replay a recording over UDP as SPIF events",
        description="Replay a recording over UDP as SPIF event words, at its recorded "
        "pace (--speed 1), faster (--speed 2x) or as fast as possible (--speed max): "
        "a stand-in for a live camera on a SPIF link.",
    )
    p.add_argument("file", metavar="FILE", help="recording (any known format) or source URI")
    p.add_argument("destination", metavar="udp://HOST:PORT", help="where to send")
    p.add_argument(
        "--speed",
        type=_speed,
        default=1.0,
        metavar="1|2x|max",
        help="replay speed factor, or 'max' for as fast as possible (default 1)",
    )
    p.add_argument(
        "--timestamps",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="send a 32-bit µs timestamp word after every event (default: no)",
    )
    p.add_argument("--loop", action="store_true", help="replay again and again until Ctrl-C")
    p.add_argument(
        "--max-events-per-datagram",
        type=int,
        default=None,
        metavar="N",
        help=f"events per datagram (default: as many as fit in {DEFAULT_MAX_DATAGRAM_BYTES} "
        "bytes; aestream's UDPInput reads at most 128, or 64 with timestamps)",
    )
    p.add_argument(
        "--end-marker",
        action="store_true",
        help="finish with spikestream's end-of-stream datagram so a spikestream "
        "receiver stops cleanly (do not send it to real SPIF hardware)",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    host, port = parse_destination(args.destination)
    with open_source(args.file) as src:
        chunks = looped(src) if args.loop else src
        try:
            stats = send_events(
                chunks,
                host,
                port,
                speed=args.speed,
                with_timestamps=args.timestamps,
                max_events_per_datagram=args.max_events_per_datagram,
                end_marker=args.end_marker,
            )
        except SpikestreamError:
            raise
        except ValueError as e:  # an event SPIF cannot carry, a bad datagram size
            raise SourceError(args.file, str(e)) from e
    print(
        f"sent {stats.events} events in {stats.datagrams} datagrams to udp://{host}:{port} "
        f"in {stats.wall_s:.3f} s (max lag {stats.pace.max_lag_us / 1000:.1f} ms)",
        file=sys.stderr,
    )
    return 0
