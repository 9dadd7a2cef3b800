"""End to end: `sessionroom display` pages in headless Chromium, the real engine, a real Mosquitto.

Every part is a real process: `sessionroom run` (the engine), one `sessionroom display`
per screen, `sessionroom ctl` for the operator's commands, Chromium showing each page.
What the page did is read from its own record (`window.sessionroomDisplay`: the value
drawn at each animation frame, and events in Unix milliseconds); what the device said is
read from the broker. The measured figures are printed (`pytest -s` shows them).
Only the XR headset is emulated (IWER, injected into the page): headless Chromium has none.
"""

from __future__ import annotations

import json
import math
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest

from controller.display.server import THREE_JS
from tests.display.screen_room import BAR_COLOUR, BREATHING, CLIP, CLIP_SECONDS, write_screen_room
from tests.support.browser import chromium
from tests.support.mosquitto import Mosquitto, port_accepts
from tests.support.requirements import missing
from tests.support.room import Operator, Wire, seen_within, spawn, until

pytestmark = [pytest.mark.mosquitto, pytest.mark.slow]

ACT_WITHIN_S = 0.2
AUTOPLAY = ("--autoplay-policy=no-user-gesture-required",)
BAR_SPEED_HZ = 1.5
BAR_PASSES = 20
WIRE_SLACK_MS = 50
"""The wire recorder may stamp a message a little after the page already has it."""
HEADSET = "vr/headset/set"
VEIL = "return Number(getComputedStyle(document.getElementById('veil')).opacity)"
"""How black the page is (the veil over the content: 0 shows it, 1 is black)."""


@dataclass(frozen=True)
class Sent:
    """A `ctl` command, in Unix ms (the page's `Date.now()` clock, the system's)."""

    started: float
    """Just before `ctl` ran: anything the page did after this may answer the command."""
    at: float
    """When the command reached the broker, as the wire recorder saw it."""

    def latency(self, page_event: dict[str, Any]) -> float:
        """Seconds from the command on the broker to the page's event."""
        return (page_event["at"] - self.at) / 1000


@dataclass
class Screens:
    room: Operator
    wire: Wire
    urls: dict[str, str]

    def epoch(self, monotonic: float) -> float:
        """A wire arrival time (time.monotonic) as Unix milliseconds, the page's clock."""
        return (monotonic + time.time() - time.monotonic()) * 1000

    def ctl_ok(self, action: str, *params: str) -> Sent:
        """Run `sessionroom ctl`; when it started and when its command reached the broker."""
        before = time.monotonic()
        result = self.room.ctl(action, *params)
        assert result.returncode == 0, result.stdout + result.stderr
        commands = [
            m
            for m in self.wire.on(f"{self.room.topics}/cmd", after=before)
            if json.loads(m.payload)["action"] == action
        ]
        return Sent(self.epoch(before), self.epoch(commands[-1].at))

    def state(self, device: str) -> dict[str, Any] | None:
        payload = self.wire.last(f"{device}/state")
        return json.loads(payload) if payload else None

    def availability(self, device: str) -> str | None:
        return self.wire.last(f"{device}/availability")


@pytest.fixture
def screens(private_mosquitto: Mosquitto, tmp_path: Path) -> Iterator[Screens]:
    """The screen room's engine and its two displays, running; no page open yet."""
    config = write_screen_room(tmp_path / "room")
    room = Operator(private_mosquitto, tmp_path / "data", config)
    wire = room.watch()
    displays: list[subprocess.Popen[bytes]] = []
    urls = {}
    try:
        for device in ("headset", "lightbar"):
            displays.append(spawn("display", *room.common, "--device", device))
            port = _display_port(config, device)
            until(lambda port=port: port_accepts(port), f"the {device} display serves its page")
            urls[device] = f"http://127.0.0.1:{port}/"
        until(lambda: wire.last("vr/headset/availability") == "offline", "headset says offline")
        room.start_engine(scale=1.0)
        room.until_settled(wire)
        yield Screens(room, wire, urls)
    finally:
        for display in displays:
            display.terminate()
        for display in displays:
            display.wait(timeout=10)
        room.close()


def _display_port(config: Path, device: str) -> int:
    import yaml

    listed = yaml.safe_load((config.parent / "devices" / "screens.yaml").read_text())["devices"]
    return int(next(d for d in listed if d["id"] == device)["display"]["port"])


@pytest.fixture
def browsers(tmp_path: Path) -> Iterator[Callable[..., Any]]:
    """Opens headless Chromiums (as many as the test needs); each quits at the end."""
    opened: list[Any] = []

    def open_one(*flags: str) -> Any:
        driver = chromium(tmp_path / f"profile-{len(opened)}", (*AUTOPLAY, *flags))
        opened.append(driver)
        return driver

    yield open_one
    for driver in opened:
        driver.quit()


def open_page(browsers: Callable[[], Any], screens: Screens, device: str, topic: str) -> Any:
    """A new Chromium showing `device`'s page, once the device says it is online."""
    driver = browsers()
    driver.get(screens.urls[device])
    until(lambda: screens.availability(topic) == "online", f"{topic} online with its page")
    return driver


def record(driver: Any) -> dict[str, Any]:
    """What the page recorded (its events and frames); None before its script has run."""
    return driver.execute_script("return window.sessionroomDisplay")  # type: ignore[no-any-return]


def event(driver: Any, name: str, after: Sent | None = None) -> dict[str, Any] | None:
    """The page's first event `name` since the command `after` was sent; None while there is
    none, the page's script not running yet included (a page just loaded)."""
    since = after.started if after else 0.0
    page = record(driver)
    if page is None:
        return None
    found = [e for e in page["events"] if e["name"] == name and e["at"] >= since]
    return found[0] if found else None


def frames(driver: Any, kind: str) -> list[tuple[float, float]]:
    return [(f["t"], f["v"]) for f in record(driver)["frames"] if f["k"] == kind]


def crossings(samples: list[tuple[float, float]], level: float, rising: bool) -> list[float]:
    """Times (ms) at which a sampled curve crosses `level` upwards (or downwards), interpolated."""
    times = []
    for (t0, v0), (t1, v1) in pairwise(samples):
        crosses = v0 < level <= v1 if rising else v0 > level >= v1
        if crosses:
            times.append(t0 + (t1 - t0) * (level - v0) / (v1 - v0))
    return times


def period_s(times_ms: list[float]) -> float:
    """Least-squares slope of the event times against their index, in seconds."""
    n = len(times_ms)
    mean_k, mean_t = (n - 1) / 2, sum(times_ms) / n
    num = sum((k - mean_k) * (t - mean_t) for k, t in enumerate(times_ms))
    den = sum((k - mean_k) ** 2 for k in range(n))
    return num / den / 1000


def test_the_meditation_display_plays_pauses_stops_and_breathes(
    screens: Screens, browsers: Callable[[], Any]
) -> None:
    page = open_page(browsers, screens, "headset", "vr/headset")
    screens.ctl_ok("start", "plan=screens", "participant=P1")

    # The centering phase's scene plays the clip: the page's video advances, the device says so.
    video_time = "return document.getElementById('video').currentTime"
    until(lambda: page.execute_script(video_time) > 1.0, "the video plays on the page")
    state = until(
        lambda: (s := screens.state("vr/headset")) and s["status"] == "playing" and s,
        "the headset reports playing",
    )
    assert state["content"] == CLIP
    first = page.execute_script(video_time)
    until(lambda: page.execute_script(video_time) > first + 0.5, "currentTime keeps advancing")

    # The engine raises the volume from silence no faster than the room's ramp (10 %/s) to
    # the scene's 40 % (its gate); the page is never louder than it was last told to be
    # (its own fade-in only lowers that), so it obeys the cap and the ramp too.
    def video_volumes() -> list[tuple[float, float]]:
        return [(f["at"], f["volume"]) for f in record(page)["frames"] if f["k"] == "video"]

    until(
        lambda: max((v for _, v in video_volumes()), default=0) >= 0.40 - 1e-9,
        "the page plays at the scene's 40 %",
        timeout=20,
    )

    def told_volumes() -> list[tuple[float, float]]:
        return [
            (screens.epoch(m.at), json.loads(m.payload).get("volume", 0) / 100)
            for m in screens.wire.on("vr/headset/set")
        ]

    until(lambda: any(v >= 0.40 - 1e-9 for _, v in told_volumes()), "the recorder saw 40 % told")
    told = told_volumes()
    played = video_volumes()
    louder = [
        (at, volume)
        for at, volume in played
        if volume > max((v for t, v in told if t <= at + WIRE_SLACK_MS), default=0) + 1e-9
    ]
    loudest = max(v for _, v in played)
    steepest = max(later - earlier for t, earlier in told for u, later in told if 0 < u - t <= 1000)
    print(f"\nvideo volume: loudest {loudest:.3f}; told rises at most {steepest:.3f} in 1 s")
    assert louder == []
    assert loudest == pytest.approx(0.40)
    assert max(v for _, v in told) == pytest.approx(0.40)
    assert steepest <= 0.10 + 0.025 + 1e-9  # the ramp, and one of its 1/4 s steps

    sent = screens.ctl_ok("vr", "op=pause")
    paused = until(lambda: event(page, "video-paused", sent), "the page pauses")
    pause_latency = sent.latency(paused)
    assert page.execute_script("return document.getElementById('video').paused")
    until(lambda: screens.state("vr/headset")["status"] == "paused", "the device says paused")

    screens.ctl_ok("vr", "op=resume")
    until(lambda: not page.execute_script("return document.getElementById('video').paused"), "")

    sent = screens.ctl_ok("vr", "op=stop")
    fading = until(lambda: event(page, "veil-rising", sent), "the page fades to black")
    stop_latency = sent.latency(fading)
    until(lambda: screens.state("vr/headset")["status"] == "idle", "the device says idle")
    until(lambda: page.execute_script(VEIL) == 1.0, "the screen is black after the fade")
    print(f"\nvr pause acted {pause_latency * 1000:.0f} ms, stop {stop_latency * 1000:.0f} ms")
    assert pause_latency < ACT_WITHIN_S
    assert stop_latency < ACT_WITHIN_S

    # The breathing guide: 20 breaths a minute (3 s), inhale:exhale 1:2.
    screens.ctl_ok("scene", "name=breathing")
    until(lambda: screens.state("vr/headset")["content"] == BREATHING, "the guide plays")
    until(
        lambda: len(crossings(frames(page, "breath"), 0.5, rising=True)) >= 5,
        "five breaths drawn",
        timeout=30,
    )
    drawn = frames(page, "breath")
    measured = period_s(crossings(drawn, 0.5, rising=True))
    # Inhale and exhale share one easing, so their 10–90 % times are in the configured ratio.
    rises = [
        up - low
        for low in crossings(drawn, 0.1, rising=True)
        for up in crossings(drawn, 0.9, rising=True)
        if 0 < up - low < 3000
    ]
    falls = [
        low - up
        for up in crossings(drawn, 0.9, rising=False)
        for low in crossings(drawn, 0.1, rising=False)
        if 0 < low - up < 3000
    ]
    share = (sum(rises) / len(rises)) / (sum(rises) / len(rises) + sum(falls) / len(falls))
    print(
        f"breathing period {measured:.5f} s (configured 3 s, {measured / 3 - 1:+.3%}) over "
        f"{len(rises)} breaths; inhale share {share:.5f} (configured 1/3, {share * 3 - 1:+.3%})"
    )
    assert measured == pytest.approx(3.0, rel=0.02)
    assert share == pytest.approx(1 / 3, rel=0.02)
    # The soft tone (tone: true) swells with the breath, at most 12 % of the volume (30 %).
    sounded = [f for f in record(page)["frames"] if f["k"] == "breath"]
    assert {f["audio"] for f in sounded[-10:]} == {"running"}
    assert all(f["tone"] == pytest.approx(0.12 * f["v"] * 0.30) for f in sounded[-60:])
    assert max(f["tone"] for f in sounded) > 0.03

    # Closing the page: nobody is watching, the device is not online.
    page.get("about:blank")
    until(lambda: screens.availability("vr/headset") == "offline", "the headset goes offline")


def test_the_light_bar_moves_at_the_set_speed_counts_passes_and_stops_at_once(
    screens: Screens, browsers: Callable[[], Any]
) -> None:
    page = open_page(browsers, screens, "lightbar", "bls/lightbar")
    set_params = ("device=lightbar", f"speed_hz={BAR_SPEED_HZ}", f"passes={BAR_PASSES}")
    screens.ctl_ok("bls", "op=start", *set_params)
    until(lambda: screens.state("bls/lightbar")["running"], "the bar runs")
    until(
        lambda: (s := screens.state("bls/lightbar")) and not s["running"] and s["pass"] > 0,
        "the set ends by itself",
        timeout=BAR_PASSES / BAR_SPEED_HZ + 10,
    )
    drawn = frames(page, "bls")
    passing = crossings(drawn, 0.5, rising=True)  # once a pass, on its way right
    measured = period_s(passing)
    shown, at_right = 0, False
    # A pass shown: to the right end and back to the left end, each end taken as the outer
    # quarter of the bar. The dot is in the outer tenth for about 140 ms of a pass at this
    # speed, which a headless browser on a loaded machine may skip in one frame; in the outer
    # quarter for 220 ms.
    for _, x in drawn:
        if x > 0.75:
            at_right = True
        elif x < 0.25 and at_right:
            shown, at_right = shown + 1, False
    reported = screens.state("bls/lightbar")["pass"]
    colour = page.execute_script(
        "return getComputedStyle(document.getElementById('dot')).backgroundColor"
    )
    print(
        f"\nbar period {measured:.5f} s (configured {1 / BAR_SPEED_HZ:.5f} s, "
        f"{measured * BAR_SPEED_HZ - 1:+.3%}) from {len(passing)} passes' midpoints; "
        f"passes shown {shown}, reported {reported}"
    )
    assert measured == pytest.approx(1 / BAR_SPEED_HZ, rel=0.02)
    assert shown == reported == BAR_PASSES
    red, green, blue = (int(BAR_COLOUR[i : i + 2], 16) for i in (1, 3, 5))
    assert colour == f"rgb({red}, {green}, {blue})"  # the display's colour, the set named none

    # running:false stops the dot at once: no frame drawn after it arrives moves the dot.
    screens.ctl_ok("bls", "op=start", "device=lightbar", f"speed_hz={BAR_SPEED_HZ}", "seconds=12")
    # The first set's last report (stopped, at its 20th pass) is on the wire until the page
    # reports the new set: wait for this set's own report of its second pass.
    until(
        lambda: (s := screens.state("bls/lightbar")) and s["running"] and s["pass"] >= 2,
        "the second set runs",
    )
    screens.ctl_ok("bls", "op=stop", "device=lightbar")
    stop = until(lambda: event(page, "bls-stop"), "the page gets the stop")
    until(lambda: len([f for f in record(page)["frames"] if f["now"] > stop["now"]]) > 10, "")
    after = [f["v"] for f in record(page)["frames"] if f["k"] == "bls" and f["now"] > stop["now"]]
    moved = sum(1 for x in after if x != stop["x"])
    print(f"frames that moved the dot after running:false: {moved} of {len(after)}")
    assert moved == 0
    until(lambda: not screens.state("bls/lightbar")["running"], "the bar says stopped")


def epoch_crossings(driver: Any) -> list[float]:
    """The page's dot crossing the middle on its way right, in Unix ms (shared by pages)."""
    seen = record(driver)
    mark = seen["events"][0]  # a page's clock (`now`) against the system's (`at`)
    drawn = [
        (f["now"] + mark["at"] - mark["now"], f["v"]) for f in seen["frames"] if f["k"] == "bls"
    ]
    return crossings(drawn, 0.5, rising=True)


def ended(driver: Any) -> float:
    """When (Unix ms) the page said its set finished."""
    finished = event(driver, "bls-finished")
    assert finished is not None, "the page did not say its set finished"
    return float(finished["at"])


def farthest(crossings: list[float], others: list[float]) -> float:
    """How far (ms) the crossing of `crossings` farthest from any of `others` is from it."""
    return max(min(abs(t - o) for o in others) for t in crossings)


def test_a_light_bar_page_opened_mid_set_joins_it_in_phase(
    screens: Screens, browsers: Callable[[], Any]
) -> None:
    first = open_page(browsers, screens, "lightbar", "bls/lightbar")
    passes = 15
    screens.ctl_ok(
        "bls", "op=start", "device=lightbar", f"speed_hz={BAR_SPEED_HZ}", f"passes={passes}"
    )
    until(lambda: screens.state("bls/lightbar")["pass"] >= 3, "the set is under way")
    late = browsers()
    late.get(screens.urls["lightbar"])
    joined = until(lambda: event(late, "bls-start"), "the late page shows the running set")
    until(
        lambda: event(first, "bls-finished") and event(late, "bls-finished"),
        "both end",
        timeout=passes / BAR_SPEED_HZ + 10,
    )
    ours = epoch_crossings(late)
    theirs = epoch_crossings(first)
    apart = farthest(ours, theirs)
    ends_apart = ended(late) - ended(first)
    print(
        f"\nlate page joined at {joined['at'] - theirs[0]:.0f} ms into the set: "
        f"{len(ours)} passes, at most {apart:.0f} ms from the first page's; "
        f"ends {ends_apart:+.0f} ms apart"
    )
    assert 1 <= len(ours) < passes
    assert apart < 0.1 * 1000 / BAR_SPEED_HZ  # in phase: within a tenth of a pass
    assert abs(ends_apart) < 0.1 * 1000 / BAR_SPEED_HZ  # the set ends once, for both


def test_an_emergency_stops_both_pages_and_a_closed_page_leaves_its_device_offline(
    screens: Screens, browsers: Callable[[], Any]
) -> None:
    headset = open_page(browsers, screens, "headset", "vr/headset")
    bar = open_page(browsers, screens, "lightbar", "bls/lightbar")
    screens.ctl_ok("start", "plan=screens", "participant=P2")
    screens.ctl_ok("bls", "op=start", "device=lightbar", "speed_hz=1", "seconds=20")
    until(lambda: screens.state("vr/headset")["status"] == "playing", "the video plays")
    until(lambda: screens.state("bls/lightbar")["running"], "the bar runs")

    until(lambda: headset.execute_script(VEIL) == 0.0, "the video has faded in")

    sent = screens.ctl_ok("emergency")
    fading = until(lambda: event(headset, "veil-rising", sent), "the display fades to black")
    stopped = until(lambda: event(bar, "bls-stop", sent), "the bar stops")
    until(lambda: screens.state("vr/headset")["status"] == "idle", "the headset says idle")
    until(lambda: not screens.state("bls/lightbar")["running"], "the bar says stopped")
    print(
        f"\nemergency: display fading after {sent.latency(fading) * 1000:.0f} ms, "
        f"bar stopped after {sent.latency(stopped) * 1000:.0f} ms"
    )
    assert sent.latency(fading) < ACT_WITHIN_S
    assert sent.latency(stopped) < ACT_WITHIN_S

    bar.get("about:blank")  # the bar's page is closed; the display's page stays
    until(lambda: screens.availability("bls/lightbar") == "offline", "the bar goes offline")
    assert screens.availability("vr/headset") == "online"


def test_a_360_video_plays_flat_without_webxr_and_a_once_video_ends_idle(
    screens: Screens, browsers: Callable[[], Any]
) -> None:
    if not THREE_JS.is_file():
        missing("three.js for the displays' WebXR", "make install (with npm)")
    page = open_page(browsers, screens, "headset", "vr/headset")
    screens.ctl_ok("vr", "op=play", f"content={CLIP}:360:once", "volume=0.3")
    video_time = "return document.getElementById('video').currentTime"
    until(lambda: page.execute_script(video_time) > 1.0, "the 360° video plays flat")
    # Headless Chromium offers no immersive VR: no "Enter VR", the picture stays on the page.
    supported = page.execute_async_script(
        "const done = arguments[0];"
        "if (!navigator.xr) { done(false); return; }"
        "navigator.xr.isSessionSupported('immersive-vr').then(done, () => done(false));"
    )
    assert supported is False
    assert page.execute_script("return document.getElementById('enter-vr').hidden")
    # The WebXR module and the three.js the build installed load in the page.
    loaded = page.execute_async_script(
        "const done = arguments[0];"
        "import('/static/sphere.js')"
        ".then((m) => done(typeof m.enterSphere), (e) => done(String(e)));"
    )
    assert loaded == "function"
    until(
        lambda: screens.state("vr/headset")["status"] == "idle",
        "the once-played video ends and the device reports idle",
        timeout=CLIP_SECONDS + 10,
    )
    until(lambda: page.execute_script(VEIL) == 1.0, "the screen has faded to black")


def test_a_page_opened_late_shows_the_content_and_a_cut_fades_through_black(
    screens: Screens, browsers: Callable[[], Any]
) -> None:
    screens.ctl_ok("start", "plan=screens", "participant=P3")
    until(lambda: screens.wire.on("vr/headset/set"), "the engine sends the headset its content")
    assert screens.availability("vr/headset") == "offline"  # nobody is watching yet
    page = open_page(browsers, screens, "headset", "vr/headset")
    video_time = "return document.getElementById('video').currentTime"
    until(lambda: page.execute_script(video_time) > 1.0, "the page plays the phase's video")
    until(lambda: screens.state("vr/headset")["content"] == CLIP, "the headset reports it")
    # The engine's ramp had already brought the volume up: the page ramps in by itself, on
    # its own clock (the animation frames' timestamps).
    until(lambda: screens.state("vr/headset")["position_s"] >= 3, "3 s of the clip")
    played = [(f["t"], f["volume"]) for f in record(page)["frames"] if f["k"] == "video"]
    steepest = max(
        later - earlier for t, earlier in played for u, later in played if 0 < u - t <= 1000
    )
    print(f"\nvolume of a page opened late: rises at most {steepest:.3f} in 1 s")
    assert 0 < steepest <= 0.10 + 1e-3

    # The next phase's breathing guide: the cut from the video fades through black.
    screens.ctl_ok("next")
    until(lambda: screens.state("vr/headset")["content"] == BREATHING, "the guide plays")
    until(lambda: page.execute_script(VEIL) == 0.0, "the guide has faded in")
    veils = [(f["t"], f["veil"]) for f in record(page)["frames"] if f["k"] in ("video", "breath")]
    fastest = max(abs(v1 - v0) / (t1 - t0) * 1000 for (t0, v0), (t1, v1) in pairwise(veils))
    print(f"cut between contents: black in between, the picture changes at most {fastest:.3f}/s")
    assert max(v for _, v in veils) == 1.0  # black between the two contents
    assert fastest <= 1.0 + 1e-6  # 1 s for the whole swing, never a jump


def test_a_page_opened_late_plays_at_the_volume_and_brightness_the_device_was_told(
    screens: Screens, browsers: Callable[[], Any]
) -> None:
    """A page that opens on content already playing (or comes back after losing its
    connection) takes the device's volume and brightness from its hello. It played at its
    own defaults, 50 % and full light, louder and brighter than told, until the next command
    (in a steady scene, none comes)."""
    screens.ctl_ok("vr", "op=play", f"content={CLIP}", "volume=0.2")
    until(
        lambda: any(json.loads(m.payload).get("volume") == 20 for m in screens.wire.on(HEADSET)),
        "the engine's ramp has told the headset 20 %",
    )
    dim = screens.wire.client.publish(HEADSET, '{"action":"brightness","level":30}', qos=1)
    dim.wait_for_publish(5)
    page = open_page(browsers, screens, "headset", "vr/headset")
    until(lambda: page.execute_script(VEIL) == 0.0, "the clip has faded in")

    def video_frames() -> list[dict[str, Any]]:
        return [f for f in record(page)["frames"] if f["k"] == "video"]

    until(lambda: max(f["volume"] for f in video_frames()) >= 0.20 - 1e-9, "ramped in to 20 %")
    louder = seen_within(1.5, lambda: [f for f in video_frames() if f["volume"] > 0.20 + 1e-9])
    assert louder is None, f"louder than the 20 % told: {louder[-1]['volume']}"
    light = [f["light"] for f in video_frames()]
    print(f"\npage opened late: volume at most 0.20, light at most {max(light):.3f} (told 0.30)")
    assert max(light) <= 0.30 + 1e-9
    assert light[-1] == pytest.approx(0.30)


IWER_JS = (
    Path(__file__).resolve().parents[1] / "vendor" / "node_modules" / "iwer" / "build" / "iwer.js"
)
"""Meta's Immersive Web Emulation Runtime, installed for the tests by `make test` (npm)."""
EMULATED_HEADSET = """
new IWER.XRDevice(IWER.metaQuest3).installRuntime({ forceInstall: true });
// What the headset showed: after each of the session's frames, the left eye's middle row
// of pixels (how light its lightest pixel is, how many colours it has) and the video's time.
window.xrShown = [];
const requestFrame = XRSession.prototype.requestAnimationFrame;
XRSession.prototype.requestAnimationFrame = function (callback) {
  return requestFrame.call(this, (time, frame) => {
    callback(time, frame);
    const layer = this.renderState.baseLayer;
    if (!layer) return;
    const gl = layer.context;
    const width = Math.floor(gl.drawingBufferWidth / 2);
    const row = new Uint8Array(4 * width);
    gl.bindFramebuffer(gl.FRAMEBUFFER, layer.framebuffer);
    gl.readPixels(0, gl.drawingBufferHeight / 2, width, 1, gl.RGBA, gl.UNSIGNED_BYTE, row);
    const colours = new Set();
    let light = 0;
    for (let i = 0; i < row.length; i += 4) {
      light = Math.max(light, row[i], row[i + 1], row[i + 2]);
      colours.add(`${row[i] >> 5},${row[i + 1] >> 5},${row[i + 2] >> 5}`);
    }
    const video = document.getElementById("video");
    const drawn = window.sessionroomDisplay.frames.at(-1) || {}; // this frame's, if drawn
    window.xrShown.push({ t: time, at: Date.now(), video: video.currentTime, light,
                          colours: colours.size, veil: drawn.t === time ? drawn.veil : null });
  });
};
"""
"""Injected before the page loads (the display never serves it): an emulated Quest 3."""
SHOWN = "return window.xrShown"
HEADSET_WINDOW = "--window-size=480,320"
"""The emulated headset draws both eyes into the window, in software here: a small one."""
PAGE_FADE_S = 1.0
"""The page's fade to black (FADE_S in display.js)."""


def enter_the_headset(page: Any, frames_seen: int) -> list[dict[str, Any]]:
    """Press "Enter VR" (a real click: the user's activation) and wait for `frames_seen` frames.

    Returns what the headset showed in this session, from its first frame on.
    """
    from selenium.webdriver.common.by import By

    until(lambda: page.execute_script(VEIL) == 0.0, "the 360° video has faded in")
    button = page.find_element(By.ID, "enter-vr")
    until(button.is_displayed, "Enter VR is offered")
    before, clicked = len(page.execute_script(SHOWN)), time.time() * 1000
    button.click()
    outcome = ("xr-entered", "xr-failed")
    entered = until(
        lambda: next(
            (e for e in record(page)["events"] if e["name"] in outcome and e["at"] >= clicked), None
        ),
        "the session starts or fails",
    )
    assert entered["name"] == "xr-entered", entered
    until(lambda: len(page.execute_script(SHOWN)) >= before + frames_seen, "frames in the headset")
    return page.execute_script(SHOWN)[before:]  # type: ignore[no-any-return]


def the_headset_fades_then_ends(page: Any, sent: Sent, full: int, what: str) -> None:
    """After `sent` (a stop), the picture in the headset fades to black, then the session ends."""
    ended = until(lambda: event(page, "xr-ended", sent), f"{what}: the session ends")
    told, fading = event(page, "stop", sent), event(page, "veil-rising", sent)
    assert told is not None and fading is not None
    after = [s for s in page.execute_script(SHOWN) if s["at"] >= sent.started]
    off = max(abs(s["light"] - full * (1 - s["veil"])) for s in after if s["veil"] is not None)
    slowest = max(b["t"] - a["t"] for a, b in pairwise(after)) / 1000
    print(
        f"{what}: the page told after {sent.latency(told) * 1000:.0f} ms, fading in the headset "
        f"after {sent.latency(fading) * 1000:.0f} ms (frames up to {slowest * 1000:.0f} ms "
        f"apart), session ended after {sent.latency(ended):.2f} s; the picture follows the "
        f"fade within {off:.0f}/255 and is black ({after[-1]['light']}) before the session ends"
    )
    assert sent.latency(told) < ACT_WITHIN_S
    assert (fading["now"] - told["now"]) / 1000 <= slowest  # at the headset's next frame
    assert (ended["now"] - fading["now"]) / 1000 >= PAGE_FADE_S - slowest  # a fade, not a cut
    assert off <= 8  # darkens as the page's black veil does (in sRGB), never a jump to black
    assert after[-1]["light"] == 0


def test_a_360_video_plays_on_the_sphere_in_an_immersive_session_until_stop_or_emergency(
    screens: Screens, browsers: Callable[[], Any]
) -> None:
    """Headless Chromium has no XR device: IWER emulates a headset's WebXR in the page.

    The page's own code runs as in a headset: "Enter VR", three.js's WebXR renderer, the
    session's animation frames; only the device under `navigator.xr` is emulated. What the
    headset showed is read back from the session's framebuffer after each frame.
    """
    if not THREE_JS.is_file():
        missing("three.js for the displays' WebXR", "make install (with npm)")
    if not IWER_JS.is_file():
        missing("IWER, the WebXR emulator for the tests", "make test (with npm)")
    page = browsers(HEADSET_WINDOW)
    emulator = IWER_JS.read_text() + EMULATED_HEADSET
    page.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": emulator})
    page.get(screens.urls["headset"])
    until(lambda: screens.availability("vr/headset") == "online", "the headset's page online")
    screens.ctl_ok("vr", "op=play", f"content={CLIP}:360", "volume=0.3")
    shown = enter_the_headset(page, frames_seen=30)

    seconds = (shown[-1]["t"] - shown[0]["t"]) / 1000
    played = sum(max(0.0, b["video"] - a["video"]) for a, b in pairwise(shown))  # it loops
    lit = next(i for i, s in enumerate(shown) if s["light"] > 0)  # the first video frame
    colours = min(s["colours"] for s in shown[lit:])
    print(
        f"\nimmersive session: {len(shown)} frames in {seconds:.2f} s "
        f"({len(shown) / seconds:.1f} fps), video advanced {played:.2f} s, "
        f"picture from frame {lit}, at least {colours} colours in a row of the left eye"
    )
    assert all(b["t"] > a["t"] for a, b in pairwise(shown))
    assert played > 0.5 * seconds
    assert lit <= 5
    # The video's test picture (colour bars) is on the sphere in every frame since: a plain
    # sphere (no texture) would be one colour, black when nothing is drawn.
    assert colours >= 6
    # The page's clock runs on the headset's frames, once per frame (its fades and ramps
    # keep their pace): every frame the page drew in the session is one the headset showed.
    drawn = [t for t, _ in frames(page, "video") if shown[0]["t"] <= t <= shown[-1]["t"]]
    assert drawn == [s["t"] for s in shown]
    full = max(s["light"] for s in shown[lit:])

    # A cut to the next 360° video stays in the headset, fading through black. The next one
    # loops too (a content of its own name): played once, its 6 s could end before the stop
    # below on a loaded machine, and the session ended without the stop that is measured.
    cut = screens.ctl_ok("vr", "op=play", f"content={CLIP}:360:loop", "volume=0.3")

    def since_the_cut() -> list[dict[str, Any]]:
        return [s for s in page.execute_script(SHOWN) if s["at"] >= cut.started]

    # Black first: the page may have the command only after `ctl` has the engine's reply, and
    # its veil is still 0 (the first video) until then.
    until(lambda: any(s["light"] == 0 for s in since_the_cut()), "black between the two videos")
    until(lambda: page.execute_script(VEIL) == 0.0, "the next video has faded in")
    count = len(page.execute_script(SHOWN))
    until(lambda: len(page.execute_script(SHOWN)) >= count + 10, "frames of the next video")
    assert event(page, "xr-ended", cut) is None
    assert min(s["colours"] for s in since_the_cut()[-10:]) >= 6  # the next video on the sphere

    the_headset_fades_then_ends(page, screens.ctl_ok("vr", "op=stop"), full, "stop")
    until(lambda: screens.state("vr/headset")["status"] == "idle", "the headset says idle")

    # A second session in the same page, ended by an emergency.
    screens.ctl_ok("vr", "op=play", f"content={CLIP}:360", "volume=0.3")
    again = enter_the_headset(page, frames_seen=10)
    assert max(s["colours"] for s in again) >= 6
    the_headset_fades_then_ends(page, screens.ctl_ok("emergency"), full, "emergency")
    until(lambda: screens.state("vr/headset")["status"] == "idle", "the headset says idle")


STALL_FRAMES = """
const request = window.requestAnimationFrame.bind(window);
window.framesStalled = true;
window.requestAnimationFrame = (callback) =>
  request(function held(ts) { if (window.framesStalled) request(held); else callback(ts); });
"""
"""Holds the page's animation frames back until `window.framesStalled` is false, as a hidden
tab or a headset taken off does (the page still hears its commands meanwhile)."""


def test_a_page_whose_frames_stalled_fades_in_from_where_it_stood(
    screens: Screens, browsers: Callable[[], Any]
) -> None:
    """Content told to play while the page drew no frame for 2 s: when the frames come back
    the picture fades in over its second, rather than showing at once (the whole fade in
    the first frame, as the frame's time step said 2 s had passed)."""
    page = open_page(browsers, screens, "headset", "vr/headset")
    assert page.execute_script(VEIL) == 1.0
    page.execute_script(STALL_FRAMES)
    screens.ctl_ok("vr", "op=play", "content=breathing:6", "volume=0")
    time.sleep(2.0)  # the stall itself, not a wait for the page
    page.execute_script("window.framesStalled = false")
    until(lambda: page.execute_script(VEIL) == 0.0, "the guide has faded in")
    # black (asserted above) until the first frame after the stall; frames are recorded
    # from then on, as content is shown
    veils = [1.0, *(f["veil"] for f in record(page)["frames"] if f["k"] in ("video", "breath"))]
    steepest = max(abs(v1 - v0) for v0, v1 in pairwise(veils))
    print(f"\nafter frames stalled for 2 s, the veil moves at most {steepest:.3f} in a frame")
    assert steepest <= 0.1 + 1e-9


def test_a_stop_or_pause_sent_while_the_page_fades_to_black_is_obeyed(
    screens: Screens, browsers: Callable[[], Any]
) -> None:
    page = open_page(browsers, screens, "headset", "vr/headset")
    screens.ctl_ok("vr", "op=play", "content=breathing:6", "volume=0")
    until(lambda: page.execute_script(VEIL) == 0.0, "the first guide has faded in")

    def publish(payload: str) -> None:
        """A command straight to the device, faster than `ctl` can send them."""
        sent = screens.wire.client.publish("vr/headset/set", payload, qos=1)
        sent.wait_for_publish(5)

    # A cut (stop, then play) and at once a stop, all within the 1 s fade to black: the
    # last word is stop, so nothing plays once the screen is black.
    for command in ("stop", f'play","content":"{BREATHING}', "stop"):
        publish(f'{{"action":"{command}"}}')
    until(lambda: screens.state("vr/headset")["status"] == "idle", "the device says idle")
    played = seen_within(3.0, lambda: screens.state("vr/headset")["status"] != "idle")
    assert played is None, f"the page plays after a stop: {screens.state('vr/headset')}"
    assert page.execute_script(VEIL) == 1.0

    # A play then a pause within the fade: the new content comes in paused, as the device says.
    publish('{"action":"play","content":"breathing:6"}')
    until(lambda: page.execute_script(VEIL) == 0.0, "the guide has faded in again")
    publish(f'{{"action":"play","content":"{BREATHING}"}}')
    publish('{"action":"pause"}')
    until(lambda: screens.state("vr/headset")["content"] == BREATHING, "the second guide comes in")
    assert screens.state("vr/headset")["status"] == "paused"
    until(lambda: page.execute_script(VEIL) == 0.0, "the second guide has faded in")
    drawn = {v for _, v in frames(page, "breath")[-30:]}
    assert len(drawn) == 1, "the paused guide does not breathe"
    assert screens.state("vr/headset")["status"] == "paused"


ROUNDING = 1e-9
"""A step of a drawn curve this small is a rounding error, not a turn: a frame that holds
the light bar's dot where it is (a set that came after the frame's time) computes its place
again, a hair (1e-16 mid-bar, 1e-11 by an end) to either side of the last frame's."""


def swings(samples: list[tuple[float, float]], least: float) -> list[tuple[float, float]]:
    """The (time ms, size) of each monotonic run of a curve that changes it by `least` or more
    (steps within `ROUNDING` neither turn it nor end a run)."""
    found, start, direction = [], samples[0], 0
    for (t0, v0), (_, v1) in pairwise(samples):
        step = (v1 - v0 > ROUNDING) - (v0 - v1 > ROUNDING)
        if step and direction and step != direction:
            if abs(v0 - start[1]) >= least:
                found.append((t0, abs(v0 - start[1])))
            start = (t0, v0)
        if step:
            direction = step
    if abs(samples[-1][1] - start[1]) >= least:
        found.append((samples[-1][0], abs(samples[-1][1] - start[1])))
    return found


def most_flashes_in_1_s(light: list[tuple[float, float]], least: float = 0.1) -> int:
    """The most flashes (pairs of opposing changes of `least`, 10 %, or more) in any 1 s of
    `light`."""
    changes = swings(light, least)
    return max(
        (sum(1 for t, _ in changes if s <= t < s + 1000) // 2 for s, _ in changes), default=0
    )


@pytest.mark.parametrize("pace_s", [0.12, 0.15])
def test_a_flood_of_commands_never_flashes_the_screen(
    screens: Screens, browsers: Callable[[], Any], pace_s: float
) -> None:
    page = open_page(browsers, screens, "headset", "vr/headset")
    bar = open_page(browsers, screens, "lightbar", "bls/lightbar")
    screens.ctl_ok("vr", "op=play", "content=breathing:6", "volume=0")
    until(lambda: page.execute_script(VEIL) == 0.0, "the guide has faded in")
    floods = [
        ("vr/headset/set", '"action":"stop"', '"action":"play","content":"breathing:6"'),
        ("vr/headset/set", '"action":"brightness","level":0', '"action":"brightness","level":100'),
        ("bls/lightbar/set", '"running":true,"speed_hz":0.5,"intensity":100', '"running":false'),
    ]
    for topic, *commands in floods:
        for n in range(30):  # several commands a second, as a stuck or hostile sender might
            screens.wire.client.publish(topic, f"{{{commands[n % 2]}}}", qos=1)
            time.sleep(pace_s)  # the sender's pace, not a wait for the page
    picture = [(f["t"], f["light"]) for f in record(page)["frames"] if f["k"] == "breath"]
    dot = [(f["t"], f["light"]) for f in record(bar)["frames"] if f["k"] == "bls"]
    flashes = most_flashes_in_1_s(picture), most_flashes_in_1_s(dot)
    print(f"\ncommands every {pace_s} s: at most {flashes[0]} flashes in 1 s on the display, "
          f"{flashes[1]} on the light bar")  # fmt: skip
    assert max(flashes) <= 3


TOP_SPEED_HZ = 2.0
"""The screen room's fastest BLS speed (the default limits)."""
SPEED_LIMIT = math.pi * TOP_SPEED_HZ * 1.05
"""Screen widths a second: the middle of a sweep at the top speed, and frame jitter."""


def fastest_sweep(drawn: list[tuple[float, float]]) -> float:
    """The dot's fastest move between two frames, in screen widths a second."""
    return max(abs(x1 - x0) / (t1 - t0) * 1000 for (t0, x0), (t1, x1) in pairwise(drawn))


def test_a_flood_of_light_bar_sets_never_sweeps_the_dot_faster_than_the_speed_limit(
    screens: Screens, browsers: Callable[[], Any]
) -> None:
    """Sets sent faster than their passes (restarts, or stops and starts) from anywhere on
    the broker: the dot never jumps back to the left and turns only at an end, so it moves
    no faster than a sweep at the room's top speed and swings to and fro no more often than
    such a sweep does. A set at 2 Hz for 0.22 s takes the dot to the right end (96 %), one
    for 0.1 s a third of the way (and a loaded machine bunches the sets of a flood)."""
    bar = open_page(browsers, screens, "lightbar", "bls/lightbar")
    start = f'{{"running":true,"speed_hz":{TOP_SPEED_HZ},"intensity":100,"passes":24}}'
    for stops, pace_s in ((False, 0.22), (True, 0.22), (False, 0.1)):
        for _ in range(12):
            screens.wire.client.publish("bls/lightbar/set", start, qos=1)
            time.sleep(pace_s)  # the sender's pace, not a wait for the page
            if stops:
                screens.wire.client.publish("bls/lightbar/set", '{"running":false}', qos=1)
                time.sleep(0.05)
    drawn = [(f["t"], f["v"]) for f in record(bar)["frames"] if f["k"] == "bls"]
    fastest = fastest_sweep(drawn)
    # Every swing (of 1 % or more) but the last, which a stop may cut short, goes from end to
    # end: a set that comes while the dot is on its way right takes it on to the right end
    # first. (Ends are the outer 15 %: the frame nearest one, on a loaded machine.)
    shortest = min(size for _, size in swings(drawn, least=0.01)[:-1])
    sweeps = most_flashes_in_1_s(drawn, least=0.7)
    print(f"\nsets every 0.22 s and 0.1 s: the dot moves at most {fastest:.2f} screen widths "
          f"a second (a {TOP_SPEED_HZ:g} Hz sweep: {math.pi * TOP_SPEED_HZ:.2f}); at most "
          f"{sweeps} sweeps there and back in 1 s; the shortest swing {shortest:.0%} of the "
          "bar")  # fmt: skip
    assert fastest <= SPEED_LIMIT
    assert shortest >= 0.7
    assert sweeps <= TOP_SPEED_HZ


KEEP_SOCKETS = """
window.pageSockets = [];
window.pageMessages = [];
window.WebSocket = class extends WebSocket {
  constructor(...args) {
    super(...args);
    window.pageSockets.push(this);
    this.addEventListener('message', (event) => window.pageMessages.push(event.data));
  }
};
"""
"""Keeps the page's WebSockets and what came on them, so that a test can close one (the
page reconnects) or hand the page a message as if it came on it."""


def open_watched_page(browsers: Callable[[], Any], screens: Screens) -> Any:
    """A new Chromium showing the light bar's page, its WebSockets kept (`KEEP_SOCKETS`)."""
    driver = browsers()
    driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": KEEP_SOCKETS})
    driver.get(screens.urls["lightbar"])
    shown = "return (window.sessionroomDisplay?.frames.length ?? 0) > 0"
    until(lambda: driver.execute_script(shown), "the page shows the bar")
    return driver


def test_a_light_bar_page_that_reconnects_mid_set_sweeps_back_and_joins_in_phase(
    screens: Screens, browsers: Callable[[], Any]
) -> None:
    """The page's dot stood where the lost connection left it, dimmed; the set it joins has
    run several sweeps: the dot goes back to the left, waits for the set's dot there and
    moves with it from then on, never faster than the speed limit, and its light comes back
    in a fade."""
    first = open_page(browsers, screens, "lightbar", "bls/lightbar")
    late = open_watched_page(browsers, screens)
    passes = 15
    screens.ctl_ok(
        "bls", "op=start", "device=lightbar", f"speed_hz={BAR_SPEED_HZ}", f"passes={passes}"
    )
    until(lambda: screens.state("bls/lightbar")["pass"] >= 4, "the set is well under way")
    late.execute_script("window.pageSockets.at(-1).close()")
    starts = lambda: [e for e in record(late)["events"] if e["name"] == "bls-start"]  # noqa: E731
    rejoined = until(lambda: len(starts()) >= 2 and starts()[1], "the page reconnects")
    until(
        lambda: event(first, "bls-finished") and event(late, "bls-finished"),
        "both end",
        timeout=passes / BAR_SPEED_HZ + 10,
    )
    hello = hellos(late)[-1]
    drawn = frames(late, "bls")
    light = [(f["t"], f["light"]) for f in record(late)["frames"] if f["k"] == "bls"]
    dimmed = min(opacity for _, opacity in light)
    rising = max((l1 - l0) / (t1 - t0) * 1000 for (t0, l0), (t1, l1) in pairwise(light))
    step = max(pairwise(drawn), key=lambda pair: abs(pair[1][1] - pair[0][1]))
    # Every pass of the set from the rejoining on, but the time to come back to the left (at
    # most a cycle at the top speed), wait there (at most a cycle) and go halfway right.
    settled = rejoined["at"] + 1000 * (1 / TOP_SPEED_HZ + 1.5 / BAR_SPEED_HZ)
    theirs = [t for t in epoch_crossings(first) if t >= settled]
    ours = epoch_crossings(late)
    apart = farthest(theirs, ours)
    ends_apart = ended(late) - ended(first)
    print(
        f"\nrejoined {hello['now']['elapsed_s']:.2f} s into the set; the dot moved at most "
        f"{fastest_sweep(drawn):.2f} screen widths a second (biggest step {step[0][1]:.3f} -> "
        f"{step[1][1]:.3f} in {step[1][0] - step[0][0]:.0f} ms); {len(theirs)} passes at most "
        f"{apart:.0f} ms from the first page's; ends {ends_apart:+.0f} ms apart; "
        f"dimmed to {dimmed:.2f}, its opacity rose at most {rising:.2f} a second"
    )
    assert hello["type"] == "hello" and hello["now"]["elapsed_s"] > 2 / BAR_SPEED_HZ
    assert fastest_sweep(drawn) <= SPEED_LIMIT
    assert len(theirs) >= 3
    assert apart < 0.1 * 1000 / BAR_SPEED_HZ  # in phase: within a tenth of a pass
    assert abs(ends_apart) < 0.1 * 1000 / BAR_SPEED_HZ  # the set ends once, for both
    assert dimmed < 0.9  # the lost connection stopped the bar and dimmed the dot
    assert rising <= 1.0 + 1e-6  # 1 s for the whole swing, never a step


def received(driver: Any) -> list[dict[str, Any]]:
    """The messages the page got on its WebSockets, first to last."""
    return [json.loads(text) for text in driver.execute_script("return window.pageMessages")]


def hellos(driver: Any) -> list[dict[str, Any]]:
    return [message for message in received(driver) if message["type"] == "hello"]


def hand_page(driver: Any, text: str) -> float:
    """Hands the page `text` as if it came on its WebSocket; the page's time (ms) after."""
    return driver.execute_script(  # type: ignore[no-any-return]
        "window.pageSockets.at(-1).onmessage(new MessageEvent('message', {data: arguments[0]}));"
        "return performance.now();",
        text,
    )


JOINED_PASSES = 100
"""A set of 50 s at the top speed."""


@pytest.mark.parametrize(
    "elapsed", ["0", "0.24", "0.26", "7.3", "10800", "-5", "1e400", '"7"', "null"]
)
def test_a_light_bar_page_joins_a_set_at_any_elapsed_s_without_a_jump(
    screens: Screens, browsers: Callable[[], Any], elapsed: str
) -> None:
    """A page whose dot stands at the right end (0.25 s from the left at the top speed)
    joins a set of 50 s at 2 Hz that has run `elapsed` seconds: just under and over that
    0.25 s, several sweeps, three hours, and values the server never sends (negative,
    beyond a double, not a number). The dot never moves faster than the speed limit; a set
    that has run joins in phase once the dot is back at the left and the set's dot has come
    back to it, a set past its length ends where the dot stands, and anything else starts
    the set anew from the left."""
    page = open_watched_page(browsers, screens)
    # The engine stops the device its page brought online (the idle scene); from then on
    # only this test tells the page anything.
    stop = until(lambda: [m for m in received(page) if m["type"] == "bls"], "the engine's stop")
    hello = {**hellos(page)[0], "seq": stop[0]["seq"]}
    at_right = {
        "type": "bls", "running": True, "speed_hz": TOP_SPEED_HZ, "intensity": 100,
        "colour": None, "passes": None, "duration_s": 0.25, "seq": hello["seq"],
    }  # fmt: skip
    sent = hand_page(page, json.dumps(at_right))
    ended = lambda: [e for e in record(page)["events"] if e["name"] == "bls-finished"]  # noqa: E731
    until(lambda: ended() and ended()[-1]["now"] > sent, "the dot at the right end")
    lead = 0.5 / TOP_SPEED_HZ
    running = {**at_right, "passes": JOINED_PASSES, "duration_s": None}
    joining = json.dumps({**hello, "now": running})[:-2] + f', "elapsed_s": {elapsed}}}}}'
    hand_page(page, joining)
    joined = [e for e in record(page)["events"] if e["name"] == "bls-start"][-1]["now"]
    until(lambda: frames(page, "bls")[-1][0] > joined + 2000, "two seconds drawn")
    every = frames(page, "bls")
    drawn = every[max(i for i, (t, _) in enumerate(every) if t < joined - 20) :]  # a frame before
    value = json.loads(elapsed)
    valid = isinstance(value, float | int) and math.isfinite(value) and value > 0
    over = valid and value >= JOINED_PASSES / TOP_SPEED_HZ

    def the_sets_dot(t: float) -> float:
        """Where the set's dot is at the page's time `t` (ms): the set has run `elapsed`
        s, or starts once the dot is back at the left; one past its length stands."""
        if over:
            return 1.0
        begun = (joined / 1000 - value) if valid else (joined / 1000 + lead)
        return (1 - math.cos(2 * math.pi * TOP_SPEED_HZ * (t / 1000 - begun))) / 2

    settled = joined + 1000 * (lead + 1 / TOP_SPEED_HZ)
    off = max(abs(x - the_sets_dot(t)) for t, x in drawn if t >= settled)
    print(
        f"\nelapsed_s {elapsed}: the dot moved at most {fastest_sweep(drawn):.2f} screen "
        f"widths a second; from {settled - joined:.0f} ms on at most {off:.4f} of the bar "
        "from the set's dot"
    )
    assert fastest_sweep(drawn) <= SPEED_LIMIT
    # The set's start is read from the page's event, a moment before the page takes it (and
    # the page's clock is coarsened): 2 % of the bar is 3 ms in the middle of a sweep.
    assert off < 0.02


WATCH_DOT = """
window.dotSeen = [];
const look = (ts) => {
  const style = getComputedStyle(document.getElementById('dot'));
  window.dotSeen.push([ts, style.backgroundColor, Number(style.opacity)]);
  requestAnimationFrame(look);
};
requestAnimationFrame(look);
"""
"""Samples the dot as the browser renders it, each frame, apart from the page's own record."""


def dot_luminance(colour: str, opacity: float) -> float:
    """The relative luminance (WCAG) of the dot, `rgb(r, g, b)` at `opacity` over black."""
    channels = [float(c) / 255 for c in colour.removeprefix("rgb(").rstrip(")").split(",")[:3]]
    linear = [
        c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4
        for c in (opacity * c for c in channels)
    ]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


@pytest.mark.parametrize("pace_s", [0.12, 0.15])
def test_a_flood_of_light_bar_colours_never_flashes_the_dot(
    screens: Screens, browsers: Callable[[], Any], pace_s: float
) -> None:
    """Sets that swap a white dot to black and back faster than its colour fades: the
    light the dot gives (its colour's luminance at its opacity) flashes at most 3 times in
    any second, as the browser renders it."""
    bar = open_page(browsers, screens, "lightbar", "bls/lightbar")
    bar.execute_script(WATCH_DOT)
    white = '{"running":true,"speed_hz":0.5,"intensity":100,"colour":"#ffffff"}'
    screens.wire.client.publish("bls/lightbar/set", white, qos=1)
    time.sleep(1.5)  # the dot is white
    for n in range(30):
        colour = ("#000000", "#ffffff")[n % 2]
        command = f'{{"running":true,"speed_hz":0.5,"intensity":100,"colour":"{colour}"}}'
        screens.wire.client.publish("bls/lightbar/set", command, qos=1)
        time.sleep(pace_s)  # the sender's pace, not a wait for the page
    seen = bar.execute_script("return window.dotSeen")
    light = [(t, dot_luminance(colour, opacity)) for t, colour, opacity in seen]
    flashes = most_flashes_in_1_s(light)
    print(f"\ncolours every {pace_s} s: at most {flashes} flashes in 1 s on the light bar's dot")
    assert flashes <= 3


def test_during_an_emergency_a_play_from_elsewhere_is_held_and_clearing_brings_the_phase_back(
    screens: Screens, browsers: Callable[[], Any]
) -> None:
    """With the room latched, a play sent straight to the headset (an open broker) is not
    shown, not even until the engine stops it again; clearing the emergency brings the
    phase's content back (the engine's play comes before its state says the room is clear)."""
    headset = open_page(browsers, screens, "headset", "vr/headset")
    screens.ctl_ok("start", "plan=screens", "participant=P3")
    until(lambda: screens.state("vr/headset")["status"] == "playing", "the video plays")
    screens.ctl_ok("emergency")
    until(lambda: screens.state("vr/headset")["status"] == "idle", "the headset says idle")
    until(
        lambda: (
            json.loads(screens.wire.last(f"{screens.room.topics}/state") or "{}")
            .get("emergency", {})
            .get("active")
        ),
        "the room's state says latched",
    )
    plays_before = [e for e in record(headset)["events"] if e["name"] == "play"]
    assert len(plays_before) == 1  # the phase's play, before the emergency
    intruder = screens.wire.client.publish(
        HEADSET, f'{{"action":"play","content":"{CLIP}"}}', qos=1
    )
    intruder.wait_for_publish(5)
    time.sleep(1.5)  # a play would show; held longer than a clearing's commands are
    assert [e for e in record(headset)["events"] if e["name"] == "play"] == plays_before
    assert screens.state("vr/headset")["status"] == "idle"
    cleared_at = time.monotonic()
    cleared = screens.ctl_ok("clear_emergency")
    until(lambda: event(headset, "play", cleared), "the phase's content plays again")
    until(lambda: screens.state("vr/headset")["status"] == "playing", "the headset says playing")
    play = screens.wire.on(HEADSET, after=cleared_at)[0].at
    clear = next(
        m.at
        for m in screens.wire.on(f"{screens.room.topics}/state", after=cleared_at)
        if not json.loads(m.payload)["emergency"]["active"]
    )
    print(f"\nthe engine's play came {(clear - play) * 1000:.0f} ms before its state said clear")
    assert (
        len([e for e in record(headset)["events"] if e["name"] == "play"]) == len(plays_before) + 1
    )


MEDIA = "const v = document.getElementById('video'); return [v.volume, v.paused, v.src];"


def stall_frames(page: Any) -> None:
    """Hold the page's frames back, and wait out the one already asked for."""
    page.execute_script(STALL_FRAMES)
    drawn = len(record(page)["frames"])
    time.sleep(0.2)  # several frames' time: the frame asked for before the stall is drawn
    assert len(record(page)["frames"]) <= drawn + 1


def test_an_emergency_silences_a_page_whose_frames_stalled(
    screens: Screens, browsers: Callable[[], Any]
) -> None:
    """A hidden tab or a headset taken off draws no frames, but its sound plays on: an
    emergency (a stop) still fades the sound out and lets go of the media, without
    waiting for the frames to come back."""
    page = open_page(browsers, screens, "headset", "vr/headset")
    screens.ctl_ok("vr", "op=play", f"content={CLIP}", "volume=0.4")
    until(lambda: page.execute_script(MEDIA)[0] > 0.2, "the video is heard")
    stall_frames(page)
    heard = page.execute_script(MEDIA)
    screens.ctl_ok("emergency")
    time.sleep(2.0)  # the frames stay stalled; the stop's fade takes 1 s
    volume, paused, source = page.execute_script(MEDIA)
    print(f"\nframes stalled: volume {heard[0]:.2f} before the emergency, {volume:.2f} 2 s after")
    assert volume == 0 and paused and source == ""


def test_a_lower_volume_is_heard_while_the_frames_stall(
    screens: Screens, browsers: Callable[[], Any]
) -> None:
    """A hidden page's sound plays on: a lower volume is heard without waiting for frames."""
    page = open_page(browsers, screens, "headset", "vr/headset")
    screens.ctl_ok("vr", "op=play", f"content={CLIP}", "volume=0.4")
    until(lambda: page.execute_script(MEDIA)[0] >= 0.4, "the video is heard, ramped up")
    stall_frames(page)
    screens.wire.client.publish(HEADSET, '{"action":"volume","volume":5}', qos=1)
    until(lambda: page.execute_script(MEDIA)[0] <= 0.05, "the lower volume is heard")
    assert not page.execute_script(MEDIA)[1]  # and it plays on


TONE = "return window.sessionroomDisplay.sound().tone"


def test_a_pause_silences_the_breathing_tone_while_the_frames_stall(
    screens: Screens, browsers: Callable[[], Any]
) -> None:
    """The breathing guide's tone is the page's own sound: a pause silences it at once,
    without waiting for frames (a hidden tab plays on)."""
    page = open_page(browsers, screens, "headset", "vr/headset")
    screens.ctl_ok("vr", "op=play", f"content={BREATHING}", "volume=0.4")
    until(lambda: (page.execute_script(TONE) or 0) > 0.01, "the tone is heard")
    stall_frames(page)
    screens.wire.client.publish(HEADSET, '{"action":"pause"}', qos=1)
    until(lambda: page.execute_script(TONE) < 0.001, "the tone is silent")
