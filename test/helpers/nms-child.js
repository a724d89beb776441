// node-media-server as a child process of the test harness, so that it can be stopped by pid.
// Usage: node nms-child.js RTMP_PORT DATA_DIR
// Listens on 127.0.0.1 only, RTMP only (no HTTP, no admin); SIGTERM stops it cleanly.
'use strict';
const NodeMediaServer = require('node-media-server');
const logger = require('node-media-server/src/core/logger.js');

const port = Number(process.argv[2]);
const dataDir = process.argv[3];
if (!Number.isInteger(port) || port <= 0 || !dataDir) {
  console.error('usage: node nms-child.js RTMP_PORT DATA_DIR');
  process.exit(2);
}

const nms = new NodeMediaServer(
  {
    bind: '127.0.0.1',
    rtmp: { port },
    store: { path: dataDir },
    record: { auto: false, path: dataDir },
    webadmin: { enable: false },
  },
  `${dataDir}/config.json`,
);
logger.level = process.env.NMS_LOG_LEVEL || 'warn';
nms.run();

let stopping = false;
for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => {
    if (stopping) return;
    stopping = true;
    const force = setTimeout(() => process.exit(0), 2000);
    force.unref();
    nms.stop().finally(() => process.exit(0));
  });
}
