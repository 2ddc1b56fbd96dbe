// Init script injected into every test page before the app runs (page.addInitScript).
// Argument: { color: '#rrggbb', freq: Hz, gain: 0..1, noCamera: bool, noMic: bool }.
// With noCamera, video requests fail (NotFoundError) until the test sets
// window.__kaigiTest.noCamera = false ("the user plugged a camera in"); noMic likewise.
//
// 1. Calls the real getUserMedia once with Chromium's fake devices: only a page
//    that holds a media permission gets plain host ICE candidates instead of
//    mDNS `.local` names (which do not resolve on a test machine).
// 2. Replaces getUserMedia with a synthetic stream: a canvas captureStream() of
//    a solid colour (plus a small moving marker in a corner so frames keep
//    changing) and a WebAudio oscillator tone whose gain the test can set.
// 3. Wraps RTCPeerConnection so the test can find every peer connection and
//    read its getStats().
(({ color, freq, gain, noCamera = false, noMic = false }) => {
  const md = navigator.mediaDevices;
  if (!md || !md.getUserMedia) return;
  const realGetUserMedia = md.getUserMedia.bind(md);
  const T = (window.__kaigiTest = {
    color,
    freq,
    noCamera,
    noMic,
    pcs: [],
    gumCalls: [],
    primed: null,
    audio: null,
    canvas: null,
    setGain(v) { if (T.audio) T.audio.gain.gain.value = v; },
  });

  function prime() {
    if (!T.primed) {
      T.primed = realGetUserMedia({ audio: true, video: true })
        .then((s) => { for (const tr of s.getTracks()) tr.stop(); return true; })
        .catch((e) => { console.warn('[fake-media] priming getUserMedia failed', e); return false; });
    }
    return T.primed;
  }

  function videoTrack() {
    if (!T.canvas) {
      const c = document.createElement('canvas');
      c.width = 320;
      c.height = 180;
      const ctx = c.getContext('2d');
      let n = 0;
      const draw = () => {
        ctx.fillStyle = color;
        ctx.fillRect(0, 0, c.width, c.height);
        ctx.fillStyle = '#ffffff';
        ctx.fillRect(4 + (n % 40), 4, 12, 12);
        n++;
      };
      draw();
      setInterval(draw, 1000 / 15);
      T.canvas = c;
      T.canvasStream = c.captureStream(15);
    }
    return T.canvasStream.getVideoTracks()[0].clone();
  }

  function audioTrack() {
    if (!T.audio) {
      const ac = new AudioContext();
      const osc = ac.createOscillator();
      osc.type = 'sine';
      osc.frequency.value = freq;
      const g = ac.createGain();
      g.gain.value = gain;
      const dest = ac.createMediaStreamDestination();
      osc.connect(g).connect(dest);
      osc.start();
      T.audio = { ctx: ac, osc, gain: g, dest };
      // Autoplay policy may start the context suspended; keep nudging it.
      const resume = () => { if (ac.state !== 'running') ac.resume().catch(() => {}); };
      resume();
      setInterval(resume, 500);
    }
    return T.audio.dest.stream.getAudioTracks()[0].clone();
  }

  md.getUserMedia = async (constraints = {}) => {
    T.gumCalls.push(JSON.parse(JSON.stringify(constraints)));
    await prime();
    if ((constraints.video && T.noCamera) || (constraints.audio && T.noMic)) {
      throw new DOMException('Requested device not found', 'NotFoundError');
    }
    const tracks = [];
    if (constraints.audio) tracks.push(audioTrack());
    if (constraints.video) tracks.push(videoTrack());
    if (!tracks.length) throw new TypeError('getUserMedia: no audio or video requested');
    return new MediaStream(tracks);
  };

  const RealPC = window.RTCPeerConnection;
  class TestPC extends RealPC {
    constructor(...args) {
      super(...args);
      T.pcs.push(this);
    }
  }
  window.RTCPeerConnection = TestPC;
});
