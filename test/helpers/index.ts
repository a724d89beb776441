/** The real-peer test harness: nginx-rtmp, node-media-server, ffmpeg, rtmpdump, ffprobe, openssl. */
export * from './certs';
export * from './media';
export * from './nginx';
export * from './nodeMediaServer';
export * from './ports';
export * from './processes';
