/** The IO-light parts of `rtmp-actors monitor`: statistics, Prometheus metrics, rendering. */
export * from './stats';
export * from './metrics';
export * from './render';
