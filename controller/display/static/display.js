// Sessionroom display page: one screen of the room, driven by `sessionroom display` over a WebSocket.
//
// A headset/meditation display (vr/<id>) plays files of the room's content folder or a
// synthesised paced-breathing guide; a light bar (bls/<id>) moves a dot left and right.
// The page is the device's clock: every motion is computed from requestAnimationFrame's
// timestamp, and the page reports the device's state (position, passes) back.
// Nothing ever blinks: content changes fade through black, colour changes fade, and
// brightness changes are smoothed; however fast it is told to, the picture or the dot
// starts to brighten at most every 0.4 s (`fader`, `dotLight`).
//
// `window.sessionroomDisplay` keeps what was drawn (frames, on the page's clock) and when
// things happened (events: `now` on the page's clock, `at` in Unix milliseconds by the
// system clock) for diagnosis and for the tests that measure the page.

const FADE_S = 1.0;
const BRIGHTEN_GAP_MS = 400; // the picture starts to brighten at most 2.5 times a second
const REPORT_INTERVAL_MS = 1000;
const MAX_FRAME_S = 0.1; // frames that stalled (a hidden tab, a headset taken off) resume fades
const LOG_LIMIT = 20000;
const BREATH_SCALE = [0.35, 1.0];
const TONE_HZ = 174;
const TONE_LEVEL = 0.12;

const $ = (id) => document.getElementById(id);
const stage = $("stage");
const video = $("video");
const breath = $("breath");
const track = $("track");
const dot = $("dot");
const veil = $("veil");
const notice = $("notice");
const enterVr = $("enter-vr");

const record = {
  frames: [],
  events: [],
  sound: () => ({ video: video.volume, tone: player.tone && player.tone.gain.gain.value }),
};
window.sessionroomDisplay = record;

function keep(list, entry) {
  list.push(entry);
  if (list.length > LOG_LIMIT) list.shift();
}

function note(name, extra = {}) {
  keep(record.events, { name, at: Date.now(), now: performance.now(), ...extra });
}

function clamp(value, low, high) {
  return Math.max(low, Math.min(high, value));
}

// A level of the picture that follows its target, 1 s for the whole swing, and starts to
// make the picture brighter at most once every BRIGHTEN_GAP_MS: told to go up and down
// however fast, it never flashes more than 3 times a second (SAFETY.md). `up` is the way
// that is brighter: +1 for brightness, -1 for the black veil.
function fader(value, up) {
  return {
    value,
    target: value,
    brightening: false,
    since: -Infinity,
    step(ts, dt) {
      const way = Math.sign(this.target - this.value);
      const brighter = way === up;
      if (brighter && !this.brightening) {
        if (ts - this.since < BRIGHTEN_GAP_MS) return; // hold: a darkening just came before
        this.since = ts;
      }
      this.brightening = brighter;
      const step = dt / FADE_S;
      this.value = way > 0
        ? Math.min(this.target, this.value + step)
        : Math.max(this.target, this.value - step);
    },
  };
}

// The light bar's dot: its opacity (the set's intensity, dimmed between sets) and its
// colour, each fading to its target (opacity 1 s, colour 0.8 s for the whole swing). The
// light the dot gives, its colour's relative luminance at its opacity over the black
// screen, starts to rise at most once every BRIGHTEN_GAP_MS, as `fader` holds a level:
// neither sets nor colours swapped however fast flash it more than 3 times a second.
const COLOUR_FADE_S = 0.8;

function toward(value, target, step) {
  return value < target ? Math.min(target, value + step) : Math.max(target, value - step);
}

function rgb(hex) {
  return [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16) / 255);
}

function luminance(opacity, colour) {
  const [r, g, b] = colour.map((c) => {
    const shown = opacity * c;
    return shown <= 0.04045 ? shown / 12.92 : ((shown + 0.055) / 1.055) ** 2.4;
  });
  return 0.2126 * r + 0.7152 * g + 0.0722 * b;
}

function dotLight(colour) {
  return {
    opacity: 1,
    colour: rgb(colour),
    target: { opacity: 1, colour: rgb(colour) },
    brightening: false,
    since: -Infinity,
    get value() {
      return luminance(this.opacity, this.colour);
    },
    step(ts, dt) {
      const opacity = toward(this.opacity, this.target.opacity, dt / FADE_S);
      const colour = this.colour.map((c, i) => toward(c, this.target.colour[i], dt / COLOUR_FADE_S));
      const brighter = luminance(opacity, colour) > this.value;
      if (brighter && !this.brightening) {
        if (ts - this.since < BRIGHTEN_GAP_MS) return; // hold: a darkening just came before
        this.since = ts;
      }
      this.brightening = brighter;
      this.opacity = opacity;
      this.colour = colour;
    },
  };
}

function say(text) {
  notice.textContent = text;
  notice.hidden = !text;
}

// ---------------------------------------------------------------- link to the process

let socket = null;
let config = null;
let seq = 0; // the process's count of commands; a report names the last one it follows

function send(state) {
  if (socket && socket.readyState === WebSocket.OPEN) {
    socket.send(JSON.stringify({ type: "state", seq, state }));
  }
}

function connect() {
  const scheme = location.protocol === "https:" ? "wss://" : "ws://";
  socket = new WebSocket(scheme + location.host + "/ws");
  socket.onopen = () => {
    note("connected");
    say("");
  };
  socket.onmessage = (event) => receive(JSON.parse(event.data));
  socket.onclose = () => {
    // A screen its controller cannot reach must not keep showing: fade out, stop the bar.
    note("disconnected");
    say("Connecting…");
    player.stop("stop-disconnected");
    bar.stop("bls-stop-disconnected");
    setTimeout(connect, 1000);
  };
}

function receive(message) {
  seq = message.seq;
  if (message.type === "hello") {
    const reconnected = config !== null;
    config = message;
    document.title = message.label;
    track.style.display = message.kind === "bls" ? "block" : "none";
    if (message.kind === "bls") {
      // The dot shows at once on a new page; a page that reconnects fades it from where it
      // stood (dimmed when the connection was lost), as for any change of its light.
      if (reconnected) bar.light.target.colour = rgb(message.colour);
      else bar.light = dotLight(message.colour);
      veil.style.opacity = "0";
      if (message.now) bar.start(message.now); // a set already running: join it in phase
      else bar.report();
    } else if (message.now) {
      // What the device plays, at the volume and brightness it was told (not the page's
      // defaults, 50 % and full light); while the screen is black the light needs no fade.
      player.command(message.now);
      if (player.veil.value >= 1) player.shade.value = player.shade.target;
    } else {
      player.report();
    }
  } else if (message.type === "vr") {
    player.command(message);
  } else if (message.type === "bls") {
    bar.command(message);
  }
}

// ---------------------------------------------------------------- VR / meditation display

const player = {
  status: "idle",
  content: null,
  media: null,
  volume: 50,
  audible: 0,
  veil: fader(1, -1), // 1 is black
  shade: fader(1, 1), // the brightness command, 0–1
  afterVeil: null,
  pending: null, // a play waiting for the screen to be black before it begins
  breathBase: 0,
  breathSince: null,
  lastReport: 0,
  tone: null,
  awaitingTouch: false, // a touch will give the muted video its sound

  command(message) {
    if (message.volume !== undefined) this.volume = message.volume;
    if (message.brightness !== undefined) this.shade.target = clamp(message.brightness / 100, 0, 1);
    if (message.action === "play") this.play(message);
    else if (message.action === "pause") this.pause();
    else if (message.action === "resume") this.resume();
    else if (message.action === "stop") this.stop("stop");
  },

  play(message) {
    note("play", { content: message.content });
    this.pending = { ...message };
    if (this.status === "idle" && this.veil.value >= 1) this.begin();
    else this.fadeThen(() => this.begin()); // a cut between contents fades through black
  },

  begin() {
    const message = this.pending;
    this.pending = null;
    this.unload();
    this.content = message.content;
    this.media = message.media;
    this.status = message.paused ? "paused" : "playing";
    if (this.media.kind === "breathing") {
      breath.style.display = "block";
      this.breathBase = 0;
      this.breathSince = null;
      this.startTone();
    } else {
      video.src = this.media.url;
      video.loop = this.media.loop;
      video.volume = 0;
      if (!message.paused) this.startVideo();
    }
    xr.offer(this.media.kind !== "breathing" && this.media.spherical);
    this.veil.target = 0;
    this.report();
  },

  startVideo() {
    const media = this.media;
    video.muted = false;
    video.play().catch((error) => {
      // A start cut short (a pause, a stop, another content: AbortError) stays cut short.
      // Only the browser's refusal of sound before a touch, while this content is still to
      // play, is answered: play muted until the screen is touched.
      if (error.name !== "NotAllowedError" || this.status !== "playing" || this.media !== media) {
        return;
      }
      video.muted = true;
      video.play().catch(() => {});
      say("Touch the screen for sound");
      if (!this.awaitingTouch) {
        this.awaitingTouch = true; // one listener, however many starts were refused
        document.addEventListener("click", () => {
          this.awaitingTouch = false;
          video.muted = false;
          say("");
        }, { once: true });
      }
    });
  },

  // Every command is answered with a report (even one that does not apply, such as a
  // pause after the content ended): the process takes only reports that follow its last.
  pause() {
    if (this.pending) this.pending.paused = true; // what comes in after the fade is paused
    if (this.status === "playing") {
      this.status = "paused";
      if (this.media.kind === "breathing") {
        this.breathBase = this.breathElapsed(performance.now());
        this.breathSince = null;
      } else {
        video.pause();
      }
      note("paused");
    }
    this.report();
  },

  resume() {
    if (this.pending) this.pending.paused = false;
    if (this.status === "paused") {
      this.status = "playing";
      if (this.media.kind !== "breathing") this.startVideo();
      note("resumed");
    }
    this.report();
  },

  stop(why) {
    const waiting = this.pending !== null;
    this.pending = null; // a play still waiting for black never begins
    if (this.status === "idle" && this.content === null && !waiting) {
      this.report();
      return;
    }
    note(why);
    this.status = "idle";
    this.content = null;
    this.report();
    this.fadeThen(() => { // fade to black, then let go of the media and leave the headset
      this.unload();
      xr.offer(false);
    });
  },

  fadeThen(action) {
    this.veil.target = 1;
    this.afterVeil = action;
  },

  unload() {
    video.pause();
    video.removeAttribute("src");
    video.load();
    breath.style.display = "none";
    this.stopTone();
    this.media = null;
  },

  breathElapsed(now) {
    return this.breathBase + (this.breathSince === null ? 0 : (now - this.breathSince) / 1000);
  },

  // How far in the breath the guide is, 0 (empty) to 1 (full): eased in, eased out.
  breathFill(elapsed) {
    const { period_s: period, inhale_s: inhale } = this.media;
    const t = elapsed % period;
    if (t < inhale) return (1 - Math.cos((Math.PI * t) / inhale)) / 2;
    return (1 + Math.cos((Math.PI * (t - inhale)) / (period - inhale))) / 2;
  },

  position() {
    if (this.status === "idle" || !this.media) return 0;
    if (this.media.kind === "breathing") return this.breathElapsed(performance.now());
    return Number.isFinite(video.currentTime) ? video.currentTime : 0;
  },

  report() {
    if (this.pending) return; // between two contents: the next one reports as it begins
    this.lastReport = performance.now();
    const position = Math.round(clamp(this.position(), 0, 86400) * 10) / 10;
    send({ status: this.status, content: this.content, position_s: position });
  },

  startTone() {
    if (!config || !config.tone) return;
    const context = new AudioContext();
    const oscillator = context.createOscillator();
    const gain = context.createGain();
    oscillator.frequency.value = TONE_HZ;
    gain.gain.value = 0;
    oscillator.connect(gain).connect(context.destination);
    oscillator.start();
    context.resume().catch(() => {});
    this.tone = { context, gain };
  },

  stopTone() {
    if (this.tone) this.tone.context.close();
    this.tone = null;
  },

  wanted() {
    return clamp(this.volume / 100, 0, config.volume_cap / 100) * (1 - this.veil.value);
  },

  settle() {
    if (this.veil.value >= 1 && this.afterVeil) {
      const action = this.afterVeil;
      this.afterVeil = null;
      action();
    }
  },

  // Without frames (a hidden tab, a headset taken off) the sound plays on: a fade to
  // black (a stop, an emergency, a lost connection) goes on from a timer, its sound too,
  // and lets go of the media; a lower volume or a pause is heard at once. Nothing
  // brightens or gets louder until the frames are back.
  quieten(ts, dt) {
    if (this.veil.target >= 1) {
      this.veil.step(ts, dt);
      veil.style.opacity = String(this.veil.value);
    }
    this.audible = Math.min(this.audible, this.wanted());
    video.volume = this.audible;
    if (this.tone) { // the breath's swell needs frames: the tone only falls, or stops paused
      const most = this.status === "playing" ? TONE_LEVEL * this.audible : 0;
      this.tone.gain.gain.setTargetAtTime(Math.min(this.tone.gain.gain.value, most), 0, 0.05);
    }
    this.settle();
  },

  frame(ts, dt) {
    const before = this.veil.value;
    this.veil.step(ts, dt);
    this.shade.step(ts, dt);
    if (before === 0 && this.veil.value > 0) note("veil-rising");
    veil.style.opacity = String(this.veil.value);
    stage.style.filter = `brightness(${this.shade.value * 100}%)`;
    const light = (1 - this.veil.value) * this.shade.value; // how much of the picture shows
    this.settle();
    // Never louder than told or than the room's cap, and never rising faster than the
    // room's ramp: the engine ramps its volume, and a page that opens on content already
    // playing ramps in too.
    const wanted = this.wanted();
    const ramp = config.volume_ramp_per_s / 100;
    this.audible = wanted > this.audible ? Math.min(wanted, this.audible + ramp * dt) : wanted;
    const audible = this.audible;
    video.volume = audible;
    if (this.media && this.media.kind === "breathing") {
      if (this.status === "playing" && this.breathSince === null) this.breathSince = ts;
      const fill = this.breathFill(this.breathElapsed(ts));
      const scale = BREATH_SCALE[0] + (BREATH_SCALE[1] - BREATH_SCALE[0]) * fill;
      breath.style.transform = `scale(${scale})`;
      const sounding = this.status === "playing" ? TONE_LEVEL * fill * audible : 0;
      if (this.tone) this.tone.gain.gain.setTargetAtTime(sounding, 0, 0.05); // never a click
      const tone = this.tone ? { tone: sounding, audio: this.tone.context.state } : {};
      keep(record.frames, { t: ts, k: "breath", v: fill, veil: this.veil.value, light, ...tone });
    } else if (this.media) {
      const entry = { t: ts, k: "video", v: video.currentTime, volume: video.volume };
      keep(record.frames, { ...entry, at: Date.now(), veil: this.veil.value, light });
    }
    if (this.status === "playing" && performance.now() - this.lastReport >= REPORT_INTERVAL_MS) {
      this.report();
    }
  },
};

video.addEventListener("pause", () => note("video-paused"));
video.addEventListener("playing", () => note("video-playing"));
video.addEventListener("ended", () => {
  if (player.status === "playing") player.stop("ended");
});
// A file the browser cannot play (deleted since it was checked, a codec it lacks, broken
// part way) has ended: the device says idle, not playing for ever at the second it stopped.
video.addEventListener("error", () => {
  const file = player.media && player.media.kind !== "breathing" ? player.media.url : null;
  if (file !== null && video.getAttribute("src") === file && player.status !== "idle") {
    note("failed", { code: video.error && video.error.code });
    player.stop("failed");
  }
});

// ---------------------------------------------------------------- visual BLS light bar

const bar = {
  set: null,
  x: 0,
  rightward: false, // the way the dot last moved
  speed: 1,
  pass: 0,
  light: dotLight("#ffffff"), // the display's own colour from `hello` on

  command(message) {
    if (message.running) this.start(message);
    else this.stop("bls-stop");
  },

  start(message) {
    note("bls-start", { speed_hz: message.speed_hz });
    this.light.target.colour = rgb(message.colour || config.colour); // fades
    this.light.target.opacity = clamp(message.intensity / 100, 0, 1);
    this.speed = clamp(message.speed_hz, ...config.bls_speed_hz); // the room's BLS speeds
    this.pass = 0;
    // The dot never jumps, and turns only at an end: a set that comes while the dot is away
    // from the left (a set stopped or cut short, a flood of sets) first brings it back at
    // the room's top speed, on to the right end first if it was on its way there, and its
    // passes count from the left. Jumping back at once, sets sent faster than their passes
    // would sweep the dot faster than the speed limit; turning it where it is, they would
    // swing it to and fro more often than the fastest set does.
    const back = config.bls_speed_hz[1];
    const phase = Math.acos(clamp(1 - 2 * this.x, -1, 1)) / (2 * Math.PI); // 0 left, ½ right
    const lead = (this.rightward ? 1 - phase : phase) / back;
    const limits = [Infinity];
    if (message.passes !== null) limits.push(message.passes / this.speed);
    if (message.duration_s !== null) limits.push(message.duration_s);
    const limit = Math.min(...limits); // the set's length, in seconds
    // A page that joins a running set (`elapsed_s`, the seconds it has run: a page that
    // opens or reconnects mid-set) does not jump to where the set has got to either: its
    // dot comes back to the left as above, waits there for the set's dot to come back to
    // the left (at most a cycle), and from then on moves with it, in phase; the set ends
    // when it would have (one that has run its length ends where the dot stands). Anything
    // but a positive number of seconds is a new set.
    const ran = message.elapsed_s;
    const valid = typeof ran === "number" && Number.isFinite(ran) && ran > 0;
    const joined = valid ? Math.min(ran, limit) : 0;
    const home = joined > 0 ? joined + lead : 0; // the set's time when the dot is back left
    this.set = {
      limit,
      back,
      lead,
      home,
      follow: Math.ceil(home * this.speed - 1e-9) / this.speed, // the set's dot at the left
      // The set's time 0, from when the command came, not the first frame: a page slow to
      // draw (a loaded machine) still ends the set with the device's timing, before the
      // engine's stop.
      start: performance.now() - (home - lead) * 1000,
    };
    this.report();
  },

  stop(why) {
    if (this.set) {
      this.set = null; // at once: the next frame draws the dot where it is now
      note(why, { x: this.x });
      this.light.target.opacity = 0.25;
    }
    this.report(); // also when the set had ended: the stop may have crossed that report
  },

  report() {
    send({ running: this.set !== null, pass: this.pass, speed_hz: this.speed });
  },

  frame(ts, dt) {
    const light = this.light;
    light.step(ts, dt);
    dot.style.opacity = String(light.opacity);
    dot.style.backgroundColor = `rgb(${light.colour.map((c) => Math.round(c * 255)).join(", ")})`;
    const set = this.set;
    if (set) {
      const limit = set.limit;
      const elapsed = Math.max(set.home - set.lead, Math.min((ts - set.start) / 1000, limit));
      let cycles = elapsed * this.speed; // the set's dot
      if (elapsed < set.home) cycles = (elapsed - set.home) * set.back; // < 0: on its way back
      else if (elapsed < set.follow) cycles = 0; // waiting at the left for the set's dot
      const x = (1 - Math.cos(2 * Math.PI * cycles)) / 2; // from the left, right, back left
      if (Math.abs(x - this.x) > 1e-9) this.rightward = x > this.x; // not a rounding error
      this.x = x;
      const done = Math.floor(cycles + 1e-6);
      const finished = (ts - set.start) / 1000 >= limit;
      if (finished) {
        this.pass = Math.floor(limit * this.speed + 1e-6); // also if it ended before the dot came
        this.stop("bls-finished");
      } else if (done > this.pass) {
        this.pass = done;
        this.report();
      }
    }
    const size = config.dot_size * innerHeight;
    dot.style.width = dot.style.height = `${size}px`;
    dot.style.marginTop = `${-size / 2}px`;
    dot.style.transform = `translateX(${size / 2 + this.x * (innerWidth - 2 * size)}px)`;
    const entry = { t: ts, k: "bls", v: this.x, now: performance.now(), pass: this.pass };
    keep(record.frames, { ...entry, light: light.opacity, luminance: light.value });
  },
};

// ---------------------------------------------------------------- 360° video in WebXR

const xr = {
  session: null,

  // Show "Enter VR" for a 360° video when the browser offers immersive VR; else it plays flat.
  // In the headset already, the next 360° video plays on the sphere; anything else ends it.
  offer(spherical) {
    enterVr.hidden = true;
    if (!spherical) {
      if (this.session) this.session.end().catch(() => {});
      return;
    }
    if (this.session) return;
    if (!config || !config.webxr || !navigator.xr) return;
    navigator.xr.isSessionSupported("immersive-vr").then((supported) => {
      if (supported && player.media && player.media.spherical) enterVr.hidden = false;
    }).catch(() => {});
  },

  async enter() {
    const { enterSphere } = await import("/static/sphere.js");
    // The sphere shows as much of the picture as the page would: its fade and its brightness.
    const light = () => (1 - player.veil.value) * player.shade.value;
    this.session = await enterSphere(video, light, step);
    note("xr-entered");
    this.session.addEventListener("end", () => {
      this.session = null;
      note("xr-ended");
    });
  },
};

enterVr.addEventListener("click", () => {
  xr.enter().catch((error) => note("xr-failed", { reason: String(error) }));
});

// ---------------------------------------------------------------- one clock

let lastTs = null;
let lastFrameAt = 0; // performance.now() at the last step of the clock
let lastQuietAt = 0;
const STALLED_MS = 250; // no frame for this long: frames have stalled

// One step of the page's clock; the window's animation frames drive it, or the headset's
// while an immersive session runs (the window's frames stop then). After frames stalled,
// fades and the volume ramp take up from where they stood (at most MAX_FRAME_S a step)
// rather than jumping to where they would have got: no picture shows at once, no sound
// jumps up.
function step(ts) {
  const dt = lastTs === null ? 0 : clamp((ts - lastTs) / 1000, 0, MAX_FRAME_S);
  lastTs = ts;
  lastFrameAt = performance.now();
  if (config && config.kind === "vr") player.frame(ts, dt);
  if (config && config.kind === "bls") bar.frame(ts, dt);
}

function frame(ts) {
  if (!xr.session) step(ts);
  requestAnimationFrame(frame);
}

// While frames stall, a fade to black and its sound go on (`player.quieten`).
function quietenStalled() {
  const now = performance.now();
  const dt = clamp((now - lastQuietAt) / 1000, 0, FADE_S);
  lastQuietAt = now;
  if (config && config.kind === "vr" && now - lastFrameAt > STALLED_MS) player.quieten(now, dt);
}

say("Connecting…");
connect();
requestAnimationFrame(frame);
setInterval(quietenStalled, 100);
