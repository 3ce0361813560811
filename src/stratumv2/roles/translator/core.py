"""The translator's logic: SV1 device sessions on one side, SV2 extended channels on the other.

Sans-IO in the aioquic sense: every entry point takes ``now`` and returns the actions to
carry out (messages for the upstream, bytes for a device, devices to close). The asyncio
service (:mod:`.service`) owns the sockets and the clock.

Mapping (shared/sv2-spec/05 §4, SRI's translator):

* one upstream extended channel per device (default), opened once the device subscribed; its
  ``user_identity`` is the device's username (or ``<user_identity>.miner<N>`` when one is
  configured). A device whose authorize is not in the same read as its subscribe (cpuminer
  waits for the subscribe answer) gets the channel after ``identity_wait`` seconds.
* ``aggregate``: every device on one channel; the channel's extranonce is split as
  ``padding | 2-byte device index | extranonce2`` so each device rolls a distinct space.
* SV1 ``extranonce1`` = channel ``extranonce_prefix`` ‖ (zero padding ‖ index); the share's
  SV2 ``extranonce`` is what follows the prefix, so its length is the granted
  ``extranonce_size``.
* Shares are hashed here first: below the device's difficulty -> code 23 at once, never
  forwarded. A share that passes is answered ``true`` at once (as SRI does: the pool
  acknowledges in batches, ``SubmitShares.Success`` every N shares, so waiting would stall
  a device for seconds) and forwarded as ``SubmitSharesExtended`` when it also meets the
  channel's target (or the network's: blocks are always forwarded, and logged in full so a
  block found while the upstream is away can still be submitted by hand). Upstream
  rejections are counted per device by reason.
* Vardiff runs per device (``mining.set_difficulty``); with it on, the device's estimated
  hashrate goes upstream in ``UpdateChannel`` (the channel's sum in aggregate mode) and the
  pool's ``SetTarget`` decides which shares are forwarded. With it off the device's
  difficulty follows the channel target.
"""

from __future__ import annotations

import functools
import itertools
import logging
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field

from stratumv2.bitcoin.hashes import sha256d
from stratumv2.bitcoin.target import (
    MAX_TARGET,
    bits_to_target,
    difficulty_to_target,
    target_to_difficulty,
    target_to_hashrate,
    u256_to_target,
)
from stratumv2.mining.vardiff import Vardiff, VardiffConfig
from stratumv2.protocol import (
    CloseChannel,
    Message,
    NewExtendedMiningJob,
    OpenExtendedMiningChannel,
    OpenExtendedMiningChannelSuccess,
    OpenMiningChannelError,
    Reconnect,
    SetExtranoncePrefix,
    SetNewPrevHashMining,
    SetTarget,
    SetupConnection,
    SetupConnectionError,
    SetupConnectionSuccess,
    SubmitSharesError,
    SubmitSharesExtended,
    SubmitSharesSuccess,
    UpdateChannel,
    UpdateChannelError,
)
from stratumv2.protocol.common import PROTOCOL_MINING, REQUIRES_VERSION_ROLLING
from stratumv2.sv1 import (
    Authorize,
    Disconnect,
    InvalidRequest,
    SessionConfig,
    SubmitShare,
    Subscribe,
    SuggestDifficulty,
    Sv1ErrorCode,
    Sv1ServerSession,
)
from stratumv2.sv1.translate import notify_from_extended_job, share_header

__all__ = [
    "AGGREGATE_INDEX_SIZE",
    "Action",
    "CloseDevice",
    "DeviceData",
    "DeviceStats",
    "SendUpstream",
    "TranslatorConfig",
    "TranslatorCore",
]

log = logging.getLogger("stratumv2.translator")

AGGREGATE_INDEX_SIZE = 2
"""Bytes of the device index inside an aggregated channel's extranonce (65 536 devices)."""

_MAX_JOBS_PER_CHANNEL = 32
_MAX_PENDING_SEQUENCES = 4096
_FF = b"\xff" * 32


@dataclass(frozen=True, slots=True)
class TranslatorConfig:
    """What the core needs (built from :class:`~.settings.TranslatorSettings`).

    ``user_identity``: None = each device's own username; else ``<it>.miner<N>`` per channel
    (``<it>`` alone in aggregate mode). ``device_hashrate``: the nominal hashrate announced
    for a device before anything is measured (H/s). ``vardiff``: None turns device vardiff
    off (devices then take the channel target's difficulty).
    """

    aggregate: bool = False
    user_identity: str | None = None
    extranonce2_size: int = 4
    device_hashrate: float = 1e9
    vardiff: VardiffConfig | None = field(default_factory=VardiffConfig)
    session: SessionConfig = field(default_factory=SessionConfig)
    identity_wait: float = 1.0
    upstream_host: str = ""
    upstream_port: int = 0
    vendor: str = "stratumv2-translator"

    def __post_init__(self) -> None:
        if not 1 <= self.extranonce2_size <= 16:
            raise ValueError("extranonce2_size must be in 1..16")


@dataclass(frozen=True, slots=True)
class SendUpstream:
    """Send this message to the upstream SV2 server."""

    message: Message


@dataclass(frozen=True, slots=True)
class DeviceData:
    """Write these bytes to a device."""

    device_id: int
    data: bytes


@dataclass(frozen=True, slots=True)
class CloseDevice:
    """Flush what was written to the device, then close its connection."""

    device_id: int
    reason: str


Action = SendUpstream | DeviceData | CloseDevice


@dataclass(slots=True)
class DeviceStats:
    """Counters per device (metrics-ready): shares and bytes."""

    shares_accepted: int = 0
    shares_rejected: dict[str, int] = field(default_factory=dict)
    shares_forwarded: int = 0
    upstream_accepted: int = 0
    upstream_rejected: dict[str, int] = field(default_factory=dict)
    blocks: int = 0
    bytes_in: int = 0
    bytes_out: int = 0

    def reject(self, reason: str) -> None:
        """Count one share refused by us for ``reason``."""
        self.shares_rejected[reason] = self.shares_rejected.get(reason, 0) + 1


@dataclass(slots=True)
class _Channel:
    request_id: int
    identity: str
    devices: list[int]
    channel_id: int | None = None
    group_id: int = 0
    prefix: bytes = b""
    extranonce_size: int = 0
    target: int = MAX_TARGET
    jobs: OrderedDict[int, NewExtendedMiningJob] = field(default_factory=OrderedDict)
    prev: SetNewPrevHashMining | None = None
    active: int | None = None
    next_index: int = 0
    free_indexes: list[int] = field(default_factory=list)


@dataclass(slots=True)
class _Device:
    id: int
    number: int
    peer: str
    session: Sv1ServerSession
    connected_at: float
    stats: DeviceStats = field(default_factory=DeviceStats)
    channel: _Channel | None = None
    index: int = 0
    subscribe_ids: list[int | str | None] = field(default_factory=list)
    username: str | None = None
    wait_since: float | None = None
    vardiff: Vardiff | None = None
    resend: dict[int, int] = field(default_factory=dict)
    ready: bool = False


class TranslatorCore:
    """SV1 devices onto SV2 extended channels (see the module docstring)."""

    def __init__(self, config: TranslatorConfig) -> None:
        self.config = config
        self.devices: dict[int, _Device] = {}
        self.channels: dict[int, _Channel] = {}  # by channel_id, once open
        self._pending_opens: dict[int, _Channel] = {}  # by request_id
        self._aggregate: _Channel | None = None
        self._request_ids = itertools.count(1)
        self._device_numbers = itertools.count(1)
        self._sequence = itertools.count(1)
        self._sent: OrderedDict[int, int] = OrderedDict()  # sequence number -> device id
        self.upstream_ready = False
        self.setup_sent = False
        self.network_target: int | None = None
        self.blocks_found = 0
        self.upstream_errors: dict[str, int] = {}

    # ---- upstream ----------------------------------------------------------------------

    def setup_connection(self) -> SetupConnection:
        """The ``SetupConnection`` for a new upstream connection (SRI's translator flags)."""
        return SetupConnection(
            protocol=PROTOCOL_MINING,
            min_version=2,
            max_version=2,
            flags=REQUIRES_VERSION_ROLLING,
            endpoint_host=self.config.upstream_host,
            endpoint_port=self.config.upstream_port,
            vendor=self.config.vendor,
            hardware_version="Translator Proxy",
            firmware="",
            device_id="",
        )

    def upstream_connected(self, now: float) -> list[Action]:
        """A new upstream connection: send ``SetupConnection``."""
        self.setup_sent = True
        self.upstream_ready = False
        return [SendUpstream(self.setup_connection())]

    def upstream_lost(self, now: float, *, reconnect_devices: bool = True) -> list[Action]:
        """The upstream is gone: every channel is void.

        ``reconnect_devices``: send ``client.reconnect`` and close each device (it comes back
        and waits for a channel); else devices stay connected without work until a channel
        is opened for them again (with ``mining.set_extranonce`` if they subscribed to it,
        else they are told to reconnect then).
        """
        self.upstream_ready = False
        self.setup_sent = False
        self.channels.clear()
        self._pending_opens.clear()
        self._aggregate = None
        self._sent.clear()
        out: list[Action] = []
        for device in list(self.devices.values()):
            device.channel = None
            device.ready = False
            if reconnect_devices:
                device.session.reconnect()
                device.session.close("upstream lost")
                out.extend(self._flush(device))
                out.append(CloseDevice(device.id, "upstream lost"))
                self._forget(device)
            elif device.subscribe_ids or device.session.subscribed:
                device.wait_since = now
        return out

    def on_upstream_message(self, message: Message, now: float) -> list[Action]:
        """One message from the upstream server."""
        kind = type(message)
        out: list[Action] = []
        touched: set[int] = set()
        if kind is NewExtendedMiningJob:
            assert isinstance(message, NewExtendedMiningJob)
            for channel in self._route(message.channel_id):
                self._on_job(channel, message, touched)
        elif kind is SetNewPrevHashMining:
            assert isinstance(message, SetNewPrevHashMining)
            for channel in self._route(message.channel_id):
                self._on_prev_hash(channel, message, touched)
        elif kind is SubmitSharesSuccess:
            assert isinstance(message, SubmitSharesSuccess)
            self._on_success(message)
        elif kind is SubmitSharesError:
            assert isinstance(message, SubmitSharesError)
            self._on_share_error(message)
        elif kind is SetTarget:
            assert isinstance(message, SetTarget)
            for channel in self._route(message.channel_id):
                self._on_set_target(channel, u256_to_target(message.maximum_target), touched)
        elif kind is OpenExtendedMiningChannelSuccess:
            assert isinstance(message, OpenExtendedMiningChannelSuccess)
            self._on_open_success(message, now, touched, out)
        elif kind is OpenMiningChannelError:
            assert isinstance(message, OpenMiningChannelError)
            self._on_open_error(message, out)
        elif kind is SetExtranoncePrefix:
            assert isinstance(message, SetExtranoncePrefix)
            for channel in self._route(message.channel_id):
                self._on_new_prefix(channel, message.extranonce_prefix, touched)
        elif kind is SetupConnectionSuccess:
            out.extend(self._open_waiting(now, touched))
        elif kind is SetupConnectionError:
            assert isinstance(message, SetupConnectionError)
            log.error("upstream refused SetupConnection: %s", message.error_code)
        elif kind is CloseChannel:
            assert isinstance(message, CloseChannel)
            for channel in self._route(message.channel_id):
                self._close_channel(channel, f"upstream closed channel: {message.reason_code}", out)
        elif kind is UpdateChannelError:
            assert isinstance(message, UpdateChannelError)
            log.warning("upstream refused UpdateChannel: %s", message.error_code)
        elif kind is Reconnect:
            log.info("upstream asks to reconnect elsewhere (ignored; fallbacks are configured)")
        for device_id in touched:
            device = self.devices.get(device_id)
            if device is not None:
                if device.session.closed:
                    self._drop_if_closed(device, out)
                else:
                    out.extend(self._flush(device))
        return out

    # ---- devices -----------------------------------------------------------------------

    def device_connected(self, device_id: int, peer: str, now: float) -> None:
        """A new SV1 connection (``device_id`` is chosen by the service)."""
        session = Sv1ServerSession(self.config.session, subscription_id=f"{device_id:08x}")
        self.devices[device_id] = _Device(device_id, next(self._device_numbers), peer, session, now)

    def on_device_data(self, device_id: int, data: bytes, now: float) -> list[Action]:
        """Bytes from a device; returns the answers and any upstream messages."""
        device = self.devices.get(device_id)
        if device is None:
            return []
        device.stats.bytes_in += len(data)
        session = device.session
        out: list[Action] = []
        closed: str | None = None
        # one line at a time: an answer the role gives (authorize) must be in place before
        # the next pipelined line (a submit) is checked by the session
        start = 0
        while start < len(data) and closed is None:
            end = data.find(b"\n", start)
            end = len(data) if end < 0 else end + 1
            session.receive_data(data[start:end] if start or end < len(data) else data)
            start = end
            closed = self._drain_events(device, now, out)
        if (
            device.subscribe_ids
            and device.channel is None
            and not closed
            and (device.username is not None or self.config.aggregate)
        ):
            out.extend(self._attach(device, now))
        out.extend(self._flush(device))
        if closed is not None:
            out.append(CloseDevice(device_id, closed))
            out.extend(self.device_lost(device_id, now))
        return out

    def _drain_events(self, device: _Device, now: float, out: list[Action]) -> str | None:
        """Handle the events the session produced; the close reason if it closed."""
        session = device.session
        closed: str | None = None
        while (event := session.next_event()) is not None:
            kind = type(event)
            if kind is SubmitShare:
                assert isinstance(event, SubmitShare)
                self._on_share(device, event, now, out)
            elif kind is Subscribe:
                assert isinstance(event, Subscribe)
                if not event.answered:
                    device.subscribe_ids.append(event.request_id)
                    if device.wait_since is None:
                        device.wait_since = now
            elif kind is Authorize:
                assert isinstance(event, Authorize)
                session.accept_authorize(event.request_id)
                if device.username is None:
                    device.username = event.username
            elif kind is SuggestDifficulty:
                assert isinstance(event, SuggestDifficulty)
                out.extend(self._on_suggest(device, event, now))
            elif kind is InvalidRequest:
                assert isinstance(event, InvalidRequest)
                if event.method == "mining.submit":
                    device.stats.reject(_reason(event.code))
            elif kind is Disconnect:
                assert isinstance(event, Disconnect)
                closed = event.reason
        return closed

    def device_lost(self, device_id: int, now: float) -> list[Action]:
        """The device's connection is gone: close its channel (or free its slot)."""
        device = self.devices.get(device_id)
        if device is None:
            return []
        out: list[Action] = []
        channel = device.channel
        self._forget(device)
        if channel is not None:
            if device_id in channel.devices:
                channel.devices.remove(device_id)
            if self.config.aggregate:
                channel.free_indexes.append(device.index)
                out.extend(self._update_channel(channel))
            elif channel.channel_id is not None:
                self.channels.pop(channel.channel_id, None)
                if self.upstream_ready:
                    out.append(
                        SendUpstream(
                            CloseChannel(channel_id=channel.channel_id, reason_code="device-gone")
                        )
                    )
            else:
                self._pending_opens.pop(channel.request_id, None)
        return out

    def on_tick(self, now: float) -> list[Action]:
        """Periodic work (every second or so): identity waits, device vardiff."""
        out: list[Action] = []
        wait = self.config.identity_wait
        for device in list(self.devices.values()):
            if (
                device.subscribe_ids
                and device.channel is None
                and device.wait_since is not None
                and now - device.wait_since >= wait
            ):
                out.extend(self._attach(device, now))
                out.extend(self._flush(device))
            if device.vardiff is not None and device.ready:
                change = device.vardiff.on_tick(now)
                if change is not None:
                    out.extend(self._retarget(device, change.difficulty, now))
                    out.extend(self._flush(device))
        return out

    # ---- introspection -----------------------------------------------------------------

    def stats(self, device_id: int) -> DeviceStats | None:
        """The counters of a device still connected."""
        device = self.devices.get(device_id)
        return device.stats if device is not None else None

    def device_channel(self, device_id: int) -> tuple[int | None, bytes, int] | None:
        """(channel id, SV1 extranonce1, extranonce2 size) of a device, for tests and logs."""
        device = self.devices.get(device_id)
        if device is None or device.channel is None:
            return None
        session = device.session
        return device.channel.channel_id, session.extranonce1 or b"", session.extranonce2_size or 0

    # ---- internals: channels -----------------------------------------------------------

    def _forget(self, device: _Device) -> None:
        self.devices.pop(device.id, None)

    def _route(self, channel_id: int) -> list[_Channel]:
        channel = self.channels.get(channel_id)
        if channel is not None:
            return [channel]
        return [c for c in self.channels.values() if c.group_id == channel_id and c.group_id]

    def _identity(self, device: _Device) -> str:
        configured = self.config.user_identity
        if self.config.aggregate:
            if configured:
                return configured
            return device.username or "translator"
        if configured:
            return f"{configured}.miner{device.number}"
        return device.username or f"translator.miner{device.number}"

    def _attach(self, device: _Device, now: float) -> list[Action]:
        """Give a subscribed device a channel (open one, or join the aggregate)."""
        device.wait_since = None
        if self.config.aggregate:
            channel = self._aggregate
            if channel is None:
                channel = _Channel(next(self._request_ids), self._identity(device), [])
                self._aggregate = channel
                device.channel = channel
                device.index = self._take_index(channel)
                channel.devices.append(device.id)
                return self._send_open(channel, AGGREGATE_INDEX_SIZE)
            device.channel = channel
            device.index = self._take_index(channel)
            channel.devices.append(device.id)
            if channel.channel_id is not None:
                self._device_ready(device, now)
                return self._update_channel(channel)
            return []
        channel = _Channel(next(self._request_ids), self._identity(device), [device.id])
        device.channel = channel
        return self._send_open(channel, 0)

    def _send_open(self, channel: _Channel, index_size: int) -> list[Action]:
        self._pending_opens[channel.request_id] = channel
        if not self.upstream_ready:
            return []  # opened by _open_waiting once the upstream is set up
        return [SendUpstream(self._open_message(channel, index_size))]

    def _open_message(self, channel: _Channel, index_size: int) -> OpenExtendedMiningChannel:
        hashrate = self.config.device_hashrate * max(1, len(channel.devices))
        return OpenExtendedMiningChannel(
            request_id=channel.request_id,
            user_identity=channel.identity,
            nominal_hash_rate=hashrate,
            max_target=_FF,
            min_extranonce_size=self.config.extranonce2_size + index_size,
        )

    def _open_waiting(self, now: float, touched: set[int]) -> list[Action]:
        """After SetupConnection.Success: channels for every device waiting for one."""
        self.upstream_ready = False  # _attach only queues the opens
        for device in list(self.devices.values()):
            if device.channel is None and device.session.subscribed:
                self._attach(device, now)
        self.upstream_ready = True
        index_size = AGGREGATE_INDEX_SIZE if self.config.aggregate else 0
        return [
            SendUpstream(self._open_message(channel, index_size))
            for channel in self._pending_opens.values()
        ]

    def _drop_if_closed(self, device: _Device, out: list[Action]) -> None:
        if device.session.closed:
            out.extend(self._flush(device))
            reason = "closed"
            while (event := device.session.next_event()) is not None:
                if isinstance(event, Disconnect):
                    reason = event.reason
            out.append(CloseDevice(device.id, reason))
            out.extend(self.device_lost(device.id, 0.0))

    def _take_index(self, channel: _Channel) -> int:
        if channel.free_indexes:
            return channel.free_indexes.pop()
        index = channel.next_index
        channel.next_index += 1
        return index

    def _on_open_success(
        self,
        msg: OpenExtendedMiningChannelSuccess,
        now: float,
        touched: set[int],
        out: list[Action],
    ) -> None:
        channel = self._pending_opens.pop(msg.request_id, None)
        if channel is None:
            if msg.request_id not in {c.request_id for c in self.channels.values()}:
                out.append(SendUpstream(CloseChannel(channel_id=msg.channel_id, reason_code="")))
            return
        index_size = AGGREGATE_INDEX_SIZE if self.config.aggregate else 0
        if msg.extranonce_size < index_size + 1:
            log.error(
                "upstream granted %d extranonce bytes, need at least %d",
                msg.extranonce_size,
                index_size + 1,
            )
            self._close_channel(channel, "upstream extranonce too small", out)
            out.append(SendUpstream(CloseChannel(channel_id=msg.channel_id, reason_code="")))
            return
        channel.channel_id = msg.channel_id
        channel.group_id = msg.group_channel_id
        channel.prefix = bytes(msg.extranonce_prefix)
        channel.extranonce_size = msg.extranonce_size
        channel.target = u256_to_target(msg.target)
        self.channels[msg.channel_id] = channel
        for device_id in list(channel.devices):
            device = self.devices.get(device_id)
            if device is not None:
                self._device_ready(device, now)
                touched.add(device_id)
                self._drop_if_closed(device, out)
        if self.config.aggregate and len(channel.devices) > 1:
            out.extend(self._update_channel(channel))

    def _on_open_error(self, msg: OpenMiningChannelError, out: list[Action]) -> None:
        channel = self._pending_opens.pop(msg.request_id, None)
        if channel is None:
            return
        log.error("upstream refused a channel for %s: %s", channel.identity, msg.error_code)
        self._close_channel(channel, f"upstream refused the channel: {msg.error_code}", out)

    def _close_channel(self, channel: _Channel, reason: str, out: list[Action]) -> None:
        if channel.channel_id is not None:
            self.channels.pop(channel.channel_id, None)
        if channel is self._aggregate:
            self._aggregate = None
        for device_id in list(channel.devices):
            device = self.devices.get(device_id)
            if device is None:
                continue
            device.session.reconnect()
            device.session.close(reason)
            out.extend(self._flush(device))
            out.append(CloseDevice(device_id, reason))
            self._forget(device)

    def _extranonce1(self, device: _Device) -> tuple[bytes, int]:
        channel = device.channel
        assert channel is not None
        if self.config.aggregate:
            room = channel.extranonce_size - AGGREGATE_INDEX_SIZE
            size = min(self.config.extranonce2_size, room)
            local = bytes(room - size) + device.index.to_bytes(AGGREGATE_INDEX_SIZE, "big")
        else:
            size = min(self.config.extranonce2_size, channel.extranonce_size)
            local = bytes(channel.extranonce_size - size)
        return channel.prefix + local, size

    def _device_ready(self, device: _Device, now: float) -> None:
        """The device's channel is open: answer subscribe (or set_extranonce), set work."""
        channel = device.channel
        assert channel is not None and channel.channel_id is not None
        session = device.session
        extranonce1, size = self._extranonce1(device)
        if device.subscribe_ids:
            for request_id in device.subscribe_ids:
                session.accept_subscribe(request_id, extranonce1, size)
            device.subscribe_ids.clear()
        elif session.extranonce_subscribed:
            session.set_extranonce(extranonce1, size)
        else:  # a device that cannot take a new extranonce: have it reconnect
            session.reconnect()
            session.close("new channel, device must reconnect")
            return
        device.ready = True
        if self.network_target is not None:
            session.set_network_difficulty(target_to_difficulty(self.network_target))
        difficulty = self._start_difficulty(device, now)
        session.set_difficulty(difficulty)
        if channel.prev is not None and channel.active is not None:
            job = channel.jobs.get(channel.active)
            if job is not None:
                self._notify(device, channel, job, clean=True)

    def _start_difficulty(self, device: _Device, now: float) -> float:
        channel = device.channel
        assert channel is not None
        session = device.session
        vardiff_config = self.config.vardiff
        if vardiff_config is None:
            return session.clamp_difficulty(target_to_difficulty(channel.target))
        if device.vardiff is None:
            if session.suggested_difficulty is not None:
                hashrate = target_to_hashrate(
                    difficulty_to_target(session.suggested_difficulty),
                    vardiff_config.shares_per_minute,
                )
            else:
                hashrate = self.config.device_hashrate
            network = self.network_target if self.network_target is not None else 1
            device.vardiff = Vardiff(vardiff_config, hashrate, now, network)
        if session.suggested_difficulty is not None:
            return session.suggested_difficulty
        return session.clamp_difficulty(device.vardiff.difficulty)

    def _on_suggest(self, device: _Device, event: SuggestDifficulty, now: float) -> list[Action]:
        """The device's suggestion is its difficulty from the next job on; the upstream learns
        the hashrate it implies (``UpdateChannel``)."""
        out: list[Action] = []
        if device.vardiff is not None and self.config.vardiff is not None:
            hashrate = target_to_hashrate(
                difficulty_to_target(event.difficulty), self.config.vardiff.shares_per_minute
            )
            device.vardiff.set_hashrate(hashrate, now)
            if device.channel is not None:
                out.extend(self._update_channel(device.channel))
        if device.ready:
            self._renotify(device)
        return out

    def _on_new_prefix(self, channel: _Channel, prefix: bytes, touched: set[int]) -> None:
        channel.prefix = bytes(prefix)
        for device_id in channel.devices:
            device = self.devices.get(device_id)
            if device is None or not device.ready:
                continue
            touched.add(device_id)
            if device.session.extranonce_subscribed:
                extranonce1, size = self._extranonce1(device)
                device.session.set_extranonce(extranonce1, size)
                self._renotify(device, clean=True)
            else:
                device.session.reconnect()
                device.session.close("extranonce prefix changed")

    # ---- internals: jobs ---------------------------------------------------------------

    def _on_job(self, channel: _Channel, job: NewExtendedMiningJob, touched: set[int]) -> None:
        channel.jobs[job.job_id] = job
        while len(channel.jobs) > _MAX_JOBS_PER_CHANNEL:
            channel.jobs.popitem(last=False)
        if job.min_ntime is None or channel.prev is None:
            return  # a future job: activated by its SetNewPrevHash
        channel.active = job.job_id
        for device_id in channel.devices:
            device = self.devices.get(device_id)
            if device is not None and device.ready:
                self._notify(device, channel, job, clean=False)
                touched.add(device_id)

    def _on_prev_hash(
        self, channel: _Channel, prev: SetNewPrevHashMining, touched: set[int]
    ) -> None:
        job = channel.jobs.get(prev.job_id)
        channel.prev = prev
        if job is None:
            log.warning("SetNewPrevHash for unknown job %d", prev.job_id)
            return
        channel.active = prev.job_id
        for old in [j for j in channel.jobs if j != prev.job_id]:
            if channel.jobs[old].min_ntime is not None:
                del channel.jobs[old]  # jobs on the old tip are stale now
        self.network_target = bits_to_target(prev.nbits)
        network_difficulty = target_to_difficulty(self.network_target)
        for device_id in channel.devices:
            device = self.devices.get(device_id)
            if device is None or not device.ready:
                continue
            device.session.set_network_difficulty(network_difficulty)
            if device.vardiff is not None:
                device.vardiff.network_target = self.network_target
            self._notify(device, channel, job, clean=True)
            touched.add(device_id)

    def _notify(
        self, device: _Device, channel: _Channel, job: NewExtendedMiningJob, *, clean: bool
    ) -> None:
        assert channel.prev is not None
        resend = device.resend.get(job.job_id, 0)
        device.resend[job.job_id] = resend + 1
        if len(device.resend) > 2 * _MAX_JOBS_PER_CHANNEL:
            for old in list(device.resend)[:_MAX_JOBS_PER_CHANNEL]:
                del device.resend[old]
        notify = notify_from_extended_job(job, channel.prev, clean_jobs=clean, resend=resend)
        device.session.notify(notify)

    def _renotify(self, device: _Device, clean: bool = False) -> None:
        """Re-send the active job under a new id (a new difficulty applies from it)."""
        channel = device.channel
        if channel is None or channel.prev is None or channel.active is None:
            return
        job = channel.jobs.get(channel.active)
        if job is not None:
            self._notify(device, channel, job, clean=clean)

    def _on_set_target(self, channel: _Channel, target: int, touched: set[int]) -> None:
        channel.target = target
        if self.config.vardiff is not None:
            return  # devices keep their own vardiff; the target only filters forwarding
        difficulty = target_to_difficulty(target)
        for device_id in channel.devices:
            device = self.devices.get(device_id)
            if device is None or not device.ready:
                continue
            device.session.set_difficulty(device.session.clamp_difficulty(difficulty))
            self._renotify(device)
            touched.add(device_id)

    def _retarget(self, device: _Device, difficulty: float, now: float) -> list[Action]:
        session = device.session
        value = session.clamp_difficulty(difficulty)
        if value == session.difficulty:
            return []
        session.set_difficulty(value)
        self._renotify(device)
        channel = device.channel
        return self._update_channel(channel) if channel is not None else []

    def _update_channel(self, channel: _Channel) -> list[Action]:
        """Tell the upstream the channel's hashrate (sum of its devices' estimates)."""
        if channel.channel_id is None or not self.upstream_ready or self.config.vardiff is None:
            return []
        total = 0.0
        for device_id in channel.devices:
            device = self.devices.get(device_id)
            if device is not None and device.vardiff is not None:
                total += device.vardiff.hashrate_estimate
            elif device is not None:
                total += self.config.device_hashrate
        if total <= 0:
            return []
        return [
            SendUpstream(
                UpdateChannel(
                    channel_id=channel.channel_id, nominal_hash_rate=total, maximum_target=_FF
                )
            )
        ]

    # ---- internals: shares -------------------------------------------------------------

    def _on_share(self, device: _Device, share: SubmitShare, now: float, out: list[Action]) -> None:
        session = device.session
        stats = device.stats
        channel = device.channel
        request_id = share.request_id
        if channel is None or channel.channel_id is None or not self.upstream_ready:
            stats.reject("upstream-unavailable")
            session.share_rejected(request_id, Sv1ErrorCode.OTHER, "Upstream unavailable")
            header = share_header(share)
            if int.from_bytes(sha256d(header), "little") <= _network_target(share.job.nbits):
                stats.blocks += 1
                self.blocks_found += 1
                self._log_block(device, share, header, "upstream DOWN, submit it by hand")
            return
        try:
            sv2_job = int(share.job_id.partition("#")[0])
        except ValueError:
            sv2_job = -1
        job = channel.jobs.get(sv2_job)
        if job is None:
            stats.reject("stale")
            session.share_rejected(request_id, Sv1ErrorCode.JOB_NOT_FOUND, "Stale")
            return
        header = share_header(share)
        value = int.from_bytes(sha256d(header), "little")
        share_target = _target_of(share.difficulty)
        if value > share_target:
            stats.reject("low-difficulty")
            session.share_rejected(request_id, Sv1ErrorCode.LOW_DIFFICULTY)
            return
        stats.shares_accepted += 1
        session.share_accepted(request_id)
        if device.vardiff is not None:
            change = device.vardiff.on_share(now, share_target)
            if change is not None:
                out.extend(self._retarget(device, change.difficulty, now))
        is_block = value <= _network_target(share.job.nbits)
        if value > channel.target and not is_block:
            return
        extranonce = share.extranonce1[len(channel.prefix) :] + share.extranonce2
        sequence = next(self._sequence) & 0xFFFFFFFF
        self._sent[sequence] = device.id
        while len(self._sent) > _MAX_PENDING_SEQUENCES:
            self._sent.popitem(last=False)
        stats.shares_forwarded += 1
        if is_block:
            stats.blocks += 1
            self.blocks_found += 1
            self._log_block(device, share, header, "forwarded upstream")
        out.append(
            SendUpstream(
                SubmitSharesExtended(
                    channel_id=channel.channel_id,
                    sequence_number=sequence,
                    job_id=job.job_id,
                    nonce=share.nonce,
                    ntime=share.ntime,
                    version=share.version,
                    extranonce=extranonce,
                )
            )
        )

    @staticmethod
    def _log_block(device: _Device, share: SubmitShare, header: bytes, what: str) -> None:
        """Every block is logged whole (header and stripped coinbase) so none can be lost."""
        log.warning(
            "BLOCK found by %s (%s), %s: header %s coinbase %s%s%s%s",
            device.username,
            device.peer,
            what,
            header.hex(),
            share.job.coinb1.hex(),
            share.extranonce1.hex(),
            share.extranonce2.hex(),
            share.job.coinb2.hex(),
        )

    def _on_success(self, msg: SubmitSharesSuccess) -> None:
        # the batch ends at last_sequence_number; rejected ones were already popped
        count = msg.new_submits_accepted_count
        for sequence in list(self._sent)[:count]:
            if _seq_after(sequence, msg.last_sequence_number):
                break
            device = self.devices.get(self._sent.pop(sequence))
            if device is not None:
                device.stats.upstream_accepted += 1

    def _on_share_error(self, msg: SubmitSharesError) -> None:
        self.upstream_errors[msg.error_code] = self.upstream_errors.get(msg.error_code, 0) + 1
        device_id = self._sent.pop(msg.sequence_number, None)
        device = self.devices.get(device_id) if device_id is not None else None
        log.info("upstream rejected share %d: %s", msg.sequence_number, msg.error_code)
        if device is not None:
            rejected = device.stats.upstream_rejected
            rejected[msg.error_code] = rejected.get(msg.error_code, 0) + 1

    def _flush(self, device: _Device) -> list[Action]:
        data = device.session.data_to_send()
        if not data:
            return []
        device.stats.bytes_out += len(data)
        return [DeviceData(device.id, data)]

    def iter_stats(self) -> Iterable[tuple[int, str, DeviceStats]]:
        """(device id, username, counters) of every connected device."""
        for device in self.devices.values():
            yield device.id, device.username or "", device.stats


@functools.lru_cache(maxsize=256)
def _target_of(difficulty: float) -> int:
    return difficulty_to_target(difficulty)


@functools.lru_cache(maxsize=64)
def _network_target(nbits: int) -> int:
    return bits_to_target(nbits)


def _seq_after(a: int, b: int) -> bool:
    """True if sequence number ``a`` comes after ``b`` (u32 wrap-around)."""
    return a != b and ((a - b) & 0xFFFFFFFF) < 0x80000000


_REASONS: dict[int, str] = {
    Sv1ErrorCode.JOB_NOT_FOUND: "job-not-found",
    Sv1ErrorCode.DUPLICATE_SHARE: "duplicate",
    Sv1ErrorCode.LOW_DIFFICULTY: "low-difficulty",
    Sv1ErrorCode.UNAUTHORIZED: "unauthorized",
    Sv1ErrorCode.NOT_SUBSCRIBED: "not-subscribed",
}


def _reason(code: int) -> str:
    return _REASONS.get(code, "invalid")
