// WGS84 geodesy: places (lat, lon, height) and scene positions (ENU metres from the
// scene's origin) to Earth-centred coordinates, which the viewer then takes into its
// frame with the tiles' own transform, so markers and tiles always agree.
import * as THREE from 'three';

const A = 6378137.0;
const F = 1 / 298.257223563;
const E2 = F * (2 - F);

export function ecef(latDeg, lonDeg, height) {
  const lat = THREE.MathUtils.degToRad(latDeg);
  const lon = THREE.MathUtils.degToRad(lonDeg);
  const n = A / Math.sqrt(1 - E2 * Math.sin(lat) ** 2);
  return [
    (n + height) * Math.cos(lat) * Math.cos(lon),
    (n + height) * Math.cos(lat) * Math.sin(lon),
    (n * (1 - E2) + height) * Math.sin(lat),
  ];
}

export function ecefOfEnu([east, north, up], origin) {
  const o = ecef(origin.lat, origin.lon, origin.heightM);
  const lat = THREE.MathUtils.degToRad(origin.lat);
  const lon = THREE.MathUtils.degToRad(origin.lon);
  return [
    o[0] - Math.sin(lon) * east - Math.sin(lat) * Math.cos(lon) * north + Math.cos(lat) * Math.cos(lon) * up,
    o[1] + Math.cos(lon) * east - Math.sin(lat) * Math.sin(lon) * north + Math.cos(lat) * Math.sin(lon) * up,
    o[2] + Math.cos(lat) * north + Math.sin(lat) * up,
  ];
}
