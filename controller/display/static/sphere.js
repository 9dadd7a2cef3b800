// 360° equirectangular video in an immersive WebXR session, drawn by three.js.
//
// three.js is installed by the build from the npm registry (`make install`) and served by
// the display under /vendor/three/; this module is loaded only when the browser offers
// `immersive-vr` and the viewer presses "Enter VR". The video is the page's own <video>
// element, shown on the inside of a sphere; how much of the picture the page shows
// (`light()`: its fade to black and its brightness, 0 is black, 1 full light) darkens the
// sphere, and `step(ts)` keeps the page's clock running while the headset drives the frames.

import * as THREE from "/vendor/three/build/three.module.js";

const RADIUS_M = 50;

export async function enterSphere(video, light, step) {
  const session = await navigator.xr.requestSession("immersive-vr");
  const renderer = new THREE.WebGLRenderer({ antialias: true });
  renderer.xr.enabled = true;
  renderer.xr.setReferenceSpaceType("local");
  renderer.domElement.style.display = "none";
  document.body.appendChild(renderer.domElement);

  const scene = new THREE.Scene();
  scene.background = new THREE.Color(0x000000);
  const camera = new THREE.PerspectiveCamera(75, innerWidth / innerHeight, 0.1, 2 * RADIUS_M);
  const geometry = new THREE.SphereGeometry(RADIUS_M, 64, 32);
  geometry.scale(-1, 1, 1); // seen from inside
  const texture = new THREE.VideoTexture(video);
  texture.colorSpace = THREE.SRGBColorSpace;
  const material = new THREE.MeshBasicMaterial({ map: texture, color: 0xffffff });
  scene.add(new THREE.Mesh(geometry, material));

  // The loop is set before the session starts: three.js then stops driving it from the
  // window's frames (set later, it would run on both, and the page's clock twice as often).
  // Only the headset's frames (those with an XRFrame) step the page's clock.
  renderer.setAnimationLoop((ts, frame) => {
    if (!frame) return;
    step(ts);
    // The sphere is darkened as the page's picture is (its brightness filter and its black
    // veil): in sRGB, the space the screen shows (a linear-light scalar would stay bright,
    // then drop at the end).
    const shown = light();
    material.color.setRGB(shown, shown, shown, THREE.SRGBColorSpace);
    renderer.render(scene, camera);
  });
  await renderer.xr.setSession(session);
  session.addEventListener("end", () => {
    renderer.setAnimationLoop(null);
    texture.dispose();
    geometry.dispose();
    material.dispose();
    renderer.dispose();
    renderer.domElement.remove();
  });
  return session;
}
