// Reference outputs of the CenterNet COCO detector and the MoveNet Lightning pose model of
// @vladmandic/human 3.3.6, computed by TensorFlow.js's own runtime (pure JS CPU backend), to test
// litetrack_core/grounding/tfjs.py.
//
// Made once; the results are committed as test/grounding/fixtures/centernet_reference.npz and
// movenet_reference.npz.
// Needs @tensorflow/tfjs 4.22.0 (exactly this version was used; pure JS, no tfjs-node) in a
// scratch folder outside the repository (never commit node_modules), the detector as
// `litetrack detector install` puts it, and raw RGB frames of the packaged clip
// (litetrack_core/clips/vtest_pale_jacket) written by `scripts/detector_reference.py frames`:
//
//   mkdir -p /tmp/tfjsref && (cd /tmp/tfjsref && npm init -y && npm install --save-exact @tensorflow/tfjs@4.22.0)
//   .venv/bin/python scripts/detector_reference.py frames /tmp/centernet_ref
//   node scripts/detector_reference.mjs --tfjs /tmp/tfjsref \
//       --model .venv/share/litetrack/detectors/human-3.3.6/centernet.json --frames /tmp/centernet_ref \
//       --pose .venv/share/litetrack/detectors/human-3.3.6/movenet-lightning.json
//   .venv/bin/python scripts/detector_reference.py pack /tmp/centernet_ref
//
// Reads <frames>/frames.json ([{file, height, width}, ...]; each file holds height*width*3 uint8
// RGB). For each frame, as the package's src/object/centernet.ts does: a (1, H, W, 3) float32
// tensor of the pixel values -> tf.image.resizeBilinear to 512x512 (alignCorners and
// halfPixelCenters false, the defaults) -> model.execute for 'tower_0/detections' and
// 'tower_0/keypoints'. Writes, beside each frame file <f>:
//   <f>.detections.f32  (100, 6) float32 little-endian: x1, y1, x2, y2 (512x512 pixels), score, class
//   <f>.keypoints.f32   (128, 128, 80) float32 little-endian: the class heat map
// and <frames>/results.json: tfjs version, backend, and per frame the SHA-1 of the resized input's
// float32 bytes (lets the Python side check its resize bit for bit).
// With --pose: reads <frames>/poses.json ([{file}, ...]; each file holds MoveNet's input, the
// (1, 192, 192, 3) int32 little-endian person crop litetrack_core/grounding/pose.py makes), runs
// model.execute on it, as the package's src/body/movenet.ts does, and writes beside it
//   <f>.keypoints17.f32  (17, 3) float32 little-endian: y, x (0..1 of the crop), score

import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

function parseArgs(argv) {
  const args = {};
  for (let i = 0; i < argv.length; i += 2) {
    if (!argv[i].startsWith('--') || argv[i + 1] === undefined) throw new Error(`bad argument ${argv[i]}`);
    args[argv[i].slice(2)] = argv[i + 1];
  }
  for (const key of ['tfjs', 'model', 'frames']) if (!args[key]) throw new Error(`--${key} is required`);
  return args;
}

// A tf.io.IOHandler that reads model.json and its weight shards from disk. TF.js concatenates
// the shards of all manifest groups, in order, and reads weights at running offsets.
function fileHandler(modelJson) {
  return {
    load: async () => {
      const spec = JSON.parse(readFileSync(modelJson, 'utf8'));
      const buffers = [];
      const weightSpecs = [];
      for (const group of spec.weightsManifest) {
        weightSpecs.push(...group.weights);
        for (const path of group.paths) buffers.push(readFileSync(join(dirname(modelJson), path)));
      }
      const all = Buffer.concat(buffers);
      return {
        modelTopology: spec.modelTopology,
        weightSpecs,
        weightData: all.buffer.slice(all.byteOffset, all.byteOffset + all.byteLength),
        format: spec.format,
        generatedBy: spec.generatedBy,
        convertedBy: spec.convertedBy,
        signature: spec.signature,
        userDefinedMetadata: spec.userDefinedMetadata,
      };
    },
  };
}

const bytesOf = (typed) => Buffer.from(typed.buffer, typed.byteOffset, typed.byteLength);

async function main() {
  const args = parseArgs(process.argv.slice(2));
  const tf = createRequire(join(args.tfjs, 'package.json'))('@tensorflow/tfjs');
  await tf.setBackend('cpu');
  await tf.ready();
  const model = await tf.loadGraphModel(fileHandler(args.model));
  const frames = JSON.parse(readFileSync(join(args.frames, 'frames.json'), 'utf8'));
  const results = { tfjs_version: tf.version.tfjs, backend: tf.getBackend(), frames: [] };
  for (const frame of frames) {
    const path = join(args.frames, frame.file);
    const pixels = readFileSync(path);
    if (pixels.length !== frame.height * frame.width * 3) throw new Error(`${path}: wrong size`);
    const [detections, keypoints, inputSha1] = tf.tidy(() => {
      const image = tf.tensor4d(Float32Array.from(pixels), [1, frame.height, frame.width, 3], 'float32');
      const resized = tf.image.resizeBilinear(image, [512, 512]);
      const sha1 = createHash('sha1').update(bytesOf(resized.dataSync())).digest('hex');
      const [det, kp] = model.execute(resized, ['tower_0/detections', 'tower_0/keypoints']);
      return [det.dataSync().slice(), kp.dataSync().slice(), sha1];
    });
    writeFileSync(`${path}.detections.f32`, bytesOf(detections));
    writeFileSync(`${path}.keypoints.f32`, bytesOf(keypoints));
    results.frames.push({ file: frame.file, resized_input_sha1: inputSha1 });
    console.log(`${frame.file}: top score ${detections[4].toFixed(4)} class ${detections[5]}`);
  }
  if (args.pose) {
    const pose = await tf.loadGraphModel(fileHandler(args.pose));
    for (const crop of JSON.parse(readFileSync(join(args.frames, 'poses.json'), 'utf8'))) {
      const path = join(args.frames, crop.file);
      const data = readFileSync(path);
      if (data.length !== 192 * 192 * 3 * 4) throw new Error(`${path}: wrong size`);
      const values = new Int32Array(data.buffer, data.byteOffset, data.length / 4);
      const keypoints = tf.tidy(() => pose.execute(tf.tensor4d(values, [1, 192, 192, 3], 'int32')).dataSync().slice());
      writeFileSync(`${path}.keypoints17.f32`, bytesOf(keypoints));
      console.log(`${crop.file}: nose ${keypoints[1].toFixed(4)}, ${keypoints[0].toFixed(4)} score ${keypoints[2].toFixed(4)}`);
    }
  }
  writeFileSync(join(args.frames, 'results.json'), JSON.stringify(results, null, 1));
}

await main();
