// The device check: camera preview, choice of camera and microphone, microphone level. The
// stream it opens is the one the call will use once media joins the room.

const root = document.getElementById("room");
const preview = document.getElementById("preview");
const cameraSelect = document.getElementById("camera");
const micSelect = document.getElementById("microphone");
const meter = document.getElementById("mic-level");
const errorBox = document.getElementById("device-error");
let stream;
let audioContext;
let ready;

/** The stream the device check opened (camera and microphone), once it is open. */
export function localStream() {
  return ready;
}

function fill(select, devices, current) {
  select.replaceChildren(...devices.map((d, i) => {
    const option = document.createElement("option");
    option.value = d.deviceId;
    option.textContent = d.label || `${d.kind} ${i + 1}`;
    option.selected = d.deviceId === current;
    return option;
  }));
}

function watchLevel(s) {
  if (audioContext) audioContext.close();
  if (s.getAudioTracks().length === 0) return;
  audioContext = new AudioContext();
  const analyser = audioContext.createAnalyser();
  analyser.fftSize = 512;
  audioContext.createMediaStreamSource(s).connect(analyser);
  const samples = new Float32Array(analyser.fftSize);
  const tick = () => {
    analyser.getFloatTimeDomainData(samples);
    let sum = 0;
    for (const x of samples) sum += x * x;
    meter.value = Math.min(1, Math.sqrt(sum / samples.length) * 4);
    if (audioContext.state !== "closed") requestAnimationFrame(tick);
  };
  tick();
}

async function start() {
  const constraints = {
    video: cameraSelect.value ? { deviceId: { exact: cameraSelect.value } } : true,
    audio: micSelect.value ? { deviceId: { exact: micSelect.value } } : true,
  };
  if (stream) stream.getTracks().forEach((t) => t.stop());
  try {
    stream = await navigator.mediaDevices.getUserMedia(constraints);
  } catch (e) {
    errorBox.textContent = `${root.dataset.tNoDevices} (${e.name})`;
    errorBox.hidden = false;
    return;
  }
  errorBox.hidden = true;
  preview.srcObject = stream;
  watchLevel(stream);
  const devices = await navigator.mediaDevices.enumerateDevices();
  const videoTrack = stream.getVideoTracks()[0];
  const audioTrack = stream.getAudioTracks()[0];
  fill(cameraSelect, devices.filter((d) => d.kind === "videoinput"), videoTrack?.getSettings().deviceId);
  fill(micSelect, devices.filter((d) => d.kind === "audioinput"), audioTrack?.getSettings().deviceId);
}

if (navigator.mediaDevices?.getUserMedia) {
  cameraSelect.addEventListener("change", () => (ready = start().then(() => stream)));
  micSelect.addEventListener("change", () => (ready = start().then(() => stream)));
  ready = start().then(() => stream);
} else {
  errorBox.textContent = root.dataset.tNoDevices;
  errorBox.hidden = false;
}
