import { existsSync } from 'node:fs';
import * as path from 'node:path';

/** The sample's place in the package, from the package root. */
const SAMPLE = ['test', 'fixtures', 'media', 'small.flv'];

/** The package root: the first folder up from here with a package.json (from src/ and dist/src/). */
function packageRoot(): string {
  let dir = __dirname;
  for (let i = 0; i < 6; i++) {
    if (existsSync(path.join(dir, 'package.json'))) return dir;
    dir = path.dirname(dir);
  }
  return path.resolve(__dirname, '..', '..');
}

/**
 * The absolute path of the FLV file bundled with the package: 10 s of H.264 + AAC (the demo
 * publishes it). Publish it with `session.publish(name, sampleFlvPath, { loop: true })`.
 */
export const sampleFlvPath: string = path.join(packageRoot(), ...SAMPLE);
