/** The statecharts of rtmp-actors and the contract they share with the IO actors. */
export * from './contract';
export * from './handshakeMachine';
export * from './netConnectionMachine';
export * from './netStreamMachine';
export * from './sessionSupervisorMachine';
export * from './serverSupervisorMachine';
export * from './serverConnectionMachine';
export * from './serverStreamMachine';
