// twinland reference viewer: a scene's 3D Tiles layers for one client tier, its places
// with labels in the chosen language, a tour played stop to stop, and a live session
// (follow the guide, chat). Query parameters: scene, tier (desktop|mobile|vr), lang.
// window.twinlandViewer reports progress, for people and for the browser test.
import * as THREE from 'three';
import { OrbitControls } from 'three/addons/controls/OrbitControls.js';
import { CSS2DRenderer, CSS2DObject } from 'three/addons/renderers/CSS2DRenderer.js';
import { DRACOLoader } from 'three/addons/loaders/DRACOLoader.js';
import { MeshoptDecoder } from 'three/addons/libs/meshopt_decoder.module.js';
import { TilesRenderer } from '3d-tiles-renderer';
import { GLTFExtensionsPlugin, ReorientationPlugin } from '3d-tiles-renderer/plugins';
import { ecef, ecefOfEnu } from './geo.js';

const params = new URLSearchParams(location.search);
const slug = params.get('scene') || 'gijang-osiria';
const tier = (params.get('tier') || 'desktop').toUpperCase();
const lang = params.get('lang') || 'ko';
const state = (window.twinlandViewer = {
  ready: false, layers: 0, tilesLoaded: 0, pois: 0, tourStops: 0, errors: [], live: null, chat: [],
});
const status = (text) => { document.getElementById('status').textContent = text; };

async function graphql(query, variables = {}) {
  const response = await fetch('/graphql', {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'accept-language': lang },
    body: JSON.stringify({ query, variables }),
  });
  const body = await response.json();
  if (body.errors) throw new Error(body.errors.map((e) => e.message).join('; '));
  return body.data;
}

// The viewer's documents live in web/operations/, so a service in persisted-query allow-list
// mode (TWINLAND_GRAPHQL_ALLOW_LIST, docs/hardening.md) can list them.
const operation = async (name) => (await fetch(`/web/operations/${name}.graphql`)).text();
const SCENE = await operation('viewer-scene');
const JOIN = await operation('viewer-join-live-session');

const stage = document.getElementById('stage');
const renderer = new THREE.WebGLRenderer({ antialias: true, preserveDrawingBuffer: true });
renderer.setPixelRatio(window.devicePixelRatio);
stage.appendChild(renderer.domElement);
const labels = new CSS2DRenderer();
labels.domElement.style.position = 'absolute';
labels.domElement.style.top = '0';
labels.domElement.style.pointerEvents = 'none';
stage.appendChild(labels.domElement);
const scene = new THREE.Scene();
scene.background = new THREE.Color(0xbfd6ea);
scene.add(new THREE.HemisphereLight(0xffffff, 0x556655, 2.0));
const sun = new THREE.DirectionalLight(0xffffff, 1.5);
sun.position.set(1, 2, 1);
scene.add(sun);
const camera = new THREE.PerspectiveCamera(50, 1, 1, 200000);
const controls = new OrbitControls(camera, renderer.domElement);
const tilesets = [];
const up = new THREE.Vector3(0, 1, 0);
window.twinlandTiles = tilesets;  // for debugging in the console

function resize() {
  const { clientWidth: w, clientHeight: h } = stage;
  renderer.setSize(w, h);
  labels.setSize(w, h);
  camera.aspect = w / h;
  camera.updateProjectionMatrix();
}
window.addEventListener('resize', resize);

function addTileset(url, origin, errorTarget) {
  const tiles = new TilesRenderer(url);
  const draco = new DRACOLoader().setDecoderPath('/web/node_modules/three/examples/jsm/libs/draco/gltf/');
  tiles.registerPlugin(new GLTFExtensionsPlugin({ meshoptDecoder: MeshoptDecoder, dracoLoader: draco }));
  // the scene's ENU origin at (0, 0, 0), +y up, +x east, -z north: the frame POIs use
  tiles.registerPlugin(new ReorientationPlugin({
    lat: THREE.MathUtils.degToRad(origin.lat), lon: THREE.MathUtils.degToRad(origin.lon),
    height: origin.heightM, recenter: true,
  }));
  tiles.errorTarget = errorTarget;
  tiles.setCamera(camera);
  tiles.setResolutionFromRenderer(camera, renderer);
  tiles.addEventListener('load-model', () => { state.tilesLoaded += 1; });
  tiles.addEventListener('load-error', (event) => { state.errors.push(String(event.error || event.url)); });
  scene.add(tiles.group);
  tilesets.push(tiles);
}

// Earth-centred → the viewer's frame: the reoriented tiles' own matrix, so that markers
// and cameras sit exactly where the tiles put the ground
let earthToScene = null;
const toScene = (xyz) => new THREE.Vector3(...xyz).applyMatrix4(earthToScene);
let origin = null;
const sceneOfEnu = (enu) => toScene(ecefOfEnu(enu, origin));

function whenPlaced(tiles) {
  return new Promise((resolve) => {
    const check = () => {
      tiles.group.updateMatrixWorld(true);
      if (tiles.root && !tiles.group.matrixWorld.equals(new THREE.Matrix4())) resolve(tiles.group.matrixWorld.clone());
      else setTimeout(check, 50);
    };
    check();
  });
}

function addPois(pois) {
  const list = document.getElementById('pois');
  for (const { node } of pois) {
    const { lat, lon, heightM } = node.location;
    const position = toScene(ecef(lat, lon, heightM));
    const label = document.createElement('div');
    label.className = 'poi-label';
    label.textContent = node.name.text;
    const marker = new CSS2DObject(label);
    marker.position.copy(position).add(up.clone().multiplyScalar(15));
    scene.add(marker);
    const item = document.createElement('li');
    item.textContent = node.name.text;
    item.addEventListener('click', () => flyTo(sceneOfEnu([0, -400, 250]).sub(sceneOfEnu([0, 0, 0])).add(position), position));
    list.appendChild(item);
  }
  state.pois = pois.length;
}

function flyTo(position, target, seconds = 1.5) {
  const fromPosition = camera.position.clone();
  const fromTarget = controls.target.clone();
  const started = performance.now();
  return new Promise((resolve) => {
    function step(now) {
      const t = Math.min(1, (now - started) / (seconds * 1000));
      const k = t * t * (3 - 2 * t);
      camera.position.lerpVectors(fromPosition, position, k);
      controls.target.lerpVectors(fromTarget, target, k);
      if (t < 1) requestAnimationFrame(step); else resolve();
    }
    requestAnimationFrame(step);
  });
}

function cameraOf(pose) {
  const { eastM, northM, upM } = pose.position;
  const heading = THREE.MathUtils.degToRad(pose.headingDeg);  // from north, clockwise
  const pitch = THREE.MathUtils.degToRad(pose.pitchDeg);
  const ahead = [Math.sin(heading) * Math.cos(pitch), Math.cos(heading) * Math.cos(pitch), Math.sin(pitch)];
  return {
    position: sceneOfEnu([eastM, northM, upM]),
    target: sceneOfEnu([eastM + 100 * ahead[0], northM + 100 * ahead[1], upM + 100 * ahead[2]]),
  };
}

async function playTour(tour) {
  const caption = document.getElementById('tour-stop');
  for (const [index, stop] of tour.stops.entries()) {
    caption.textContent = `${index + 1}. ${stop.poi.name.text}`;
    const { position, target } = cameraOf(stop.camera);
    await flyTo(position, target);
    state.tourStops = index + 1;
  }
}

async function joinLive(sessionId) {
  const name = params.get('name') || 'Visitor';
  const data = await graphql(JOIN, { id: sessionId, name });
  const ticket = data.joinLiveSession;
  if (ticket.__typename !== 'LiveSessionTicket') throw new Error(ticket.message);
  const socket = new WebSocket(`${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}${ticket.url}`);
  socket.binaryType = 'arraybuffer';
  const chat = document.getElementById('chat');
  const show = (frame) => {
    const item = document.createElement('li');
    item.textContent = `${frame.from.name}: ${frame.text}`;
    chat.appendChild(item);
    state.chat.push(frame.text);
  };
  socket.addEventListener('open', () => socket.send(JSON.stringify({ type: 'hello', token: ticket.token, name })));
  socket.addEventListener('message', (event) => {
    if (typeof event.data !== 'string') { followGuide(new DataView(event.data)); return; }
    const frame = JSON.parse(event.data);
    if (frame.type === 'welcome') { state.live = frame.you; frame.chat.forEach(show); }
    else if (frame.type === 'chat') show(frame);
  });
  const form = document.getElementById('chat-form');
  form.hidden = false;
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const input = document.getElementById('chat-text');
    if (input.value.trim()) socket.send(JSON.stringify({ type: 'chat', text: input.value }));
    input.value = '';
  });
}

function followGuide(view) {
  // tick frame: u8 kind, u32 tick, u8 flags, u16 count, [camera: 3 x i32 cm, 4 x i16]
  if (view.getUint8(0) !== 2 || !(view.getUint8(5) & 1)) return;
  const cm = (i) => view.getInt32(8 + 4 * i, true) / 100;
  if (earthToScene) camera.position.copy(sceneOfEnu([cm(0), cm(1), cm(2)]));
}

async function main() {
  resize();
  const data = await graphql(SCENE, { slug, tier, lang });
  if (data.scene.__typename !== 'Scene') throw new Error(data.scene.message);
  origin = data.scene.origin;
  const { extentEastM, extentNorthM } = data.scene;
  document.getElementById('scene-name').textContent = data.scene.name.text;
  for (const layer of data.scene.layers) {
    if (layer.asset && layer.asset.tilesetUrl) addTileset(layer.asset.tilesetUrl, origin, data.scene.budget.maxScreenSpaceErrorPx);
  }
  state.layers = tilesets.length;
  if (!tilesets.length) throw new Error('this scene has no tilesets for this tier');
  earthToScene = await whenPlaced(tilesets[0]);
  // where each tileset's root transform puts the scene's origin, as the renderer reads it
  state.placements = await Promise.all(tilesets.map(async (tiles) => {
    await whenPlaced(tiles);
    const at = new THREE.Vector3().applyMatrix4(tiles.root.engineData.transform);
    const place = {};
    tiles.ellipsoid.getPositionToCartographic(at, place);
    return {
      lat: THREE.MathUtils.radToDeg(place.lat), lon: THREE.MathUtils.radToDeg(place.lon), height: place.height,
    };
  }));
  up.copy(sceneOfEnu([0, 0, 1])).sub(sceneOfEnu([0, 0, 0])).normalize();
  camera.up.copy(up);
  // from the south, looking north over the whole extent
  const span = Math.max(extentEastM, extentNorthM);
  camera.position.copy(sceneOfEnu([0, -span * 0.7, span * 0.45]));
  controls.target.copy(sceneOfEnu([0, 0, 0]));
  addPois(data.pois.edges);
  const tour = data.tours.tours && data.tours.tours[0];
  if (tour) {
    const button = document.getElementById('play-tour');
    button.disabled = false;
    button.textContent = `Play tour: ${tour.name.text}`;
    button.addEventListener('click', () => playTour(tour));
    state.tour = tour.id;
  }
  const live = data.liveSessions.liveSessions && data.liveSessions.liveSessions[0];
  if (live) {
    const button = document.getElementById('join-live');
    button.disabled = false;
    button.addEventListener('click', () => joinLive(live.id).catch((e) => state.errors.push(String(e))));
  }
  state.ready = true;
  status(`${tilesets.length} layers, ${state.pois} places`);
}

renderer.setAnimationLoop(() => {
  controls.update();
  camera.updateMatrixWorld();
  for (const tiles of tilesets) tiles.update();
  renderer.render(scene, camera);
  labels.render(scene, camera);
});

main().catch((error) => { state.errors.push(String(error)); status(`error: ${error.message}`); });
