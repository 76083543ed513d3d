// Example MQTT client fleet for the demo stacks (compose and the Kubernetes sidecar example):
// logs exactly as the seed's StructuredMQTTLogger (section 10.3.1) does, with winston's File
// transport (10 MB files, 5 kept, tailable), but with live timestamps and simulated traffic
// instead of a real broker, so Kibana shows data right away. Not part of sluice.
//
//   npm install winston@3.19.0 && node mqtt-client-example.js
//
// LOG_FILE (default /var/log/mqtt/mqtt-client.log), EVENTS_PER_SECOND (default 5),
// MAX_EVENTS (default: run forever).
const winston = require('winston');

const logFile = process.env.LOG_FILE || '/var/log/mqtt/mqtt-client.log';
const eventsPerSecond = Number(process.env.EVENTS_PER_SECOND || 5);
const maxEvents = Number(process.env.MAX_EVENTS || 0);

let correlationId = null;
let sessionId = null;
const logger = winston.createLogger({
  level: 'info',
  format: winston.format.combine(
    winston.format.timestamp(),
    winston.format.errors({ stack: true }),
    winston.format.json(),
    winston.format.printf(({ timestamp, level, message, ...meta }) => {
      const entry = { '@timestamp': timestamp, level, message, service: 'mqtt-client', version: '1.0.0', ...meta };
      if (correlationId) entry.correlationId = correlationId;
      if (sessionId) entry.sessionId = sessionId;
      return JSON.stringify(entry);
    })
  ),
  transports: [
    new winston.transports.File({ filename: logFile, maxsize: 10 * 1024 * 1024, maxFiles: 5, tailable: true }),
  ],
});

const broker = process.env.MQTT_BROKER || 'mqtt://broker.plant.local:1883';
const devices = ['dev-001', 'dev-002', 'dev-017', 'gw-north', 'gw-south'];
const metrics = ['temperature', 'humidity', 'vibration', 'power'];
const sensitive = [/\/password$/, /\/secret$/, /\/key$/, /\/token$/, /\/credential$/];
const pick = (items) => items[Math.floor(Math.random() * items.length)];
const now = () => new Date().toISOString();
const suffix = () => Math.random().toString(36).substr(2, 6);

function logConnection(event, details = {}) {
  logger.info('MQTT connection event', { event, category: 'connection', details, timestamp: now() });
}
function logMessage(direction, topic, payload, options = {}) {
  const info = {
    event: `message_${direction}`, category: 'message', topic,
    payloadSize: Buffer.byteLength(payload), qos: options.qos || 0, retain: options.retain || false,
    timestamp: now(),
  };
  info.payloadPreview = sensitive.some((p) => p.test(topic)) ? '[SENSITIVE]' : payload.slice(0, 200);
  logger.info(`Message ${direction}`, info);
}
function logError(error, context = {}) {
  logger.error('MQTT error occurred', {
    event: 'error', category: 'error',
    error: { message: error.message, stack: error.stack, code: error.code }, context, timestamp: now(),
  });
}
function logPerformance(operation, durationMs, details = {}) {
  logger.info('Performance metric', { event: 'performance', category: 'performance', operation, durationMs, details, timestamp: now() });
}
function logSecurity(event, details = {}) {
  logger.warn('Security event', { event, category: 'security', details, timestamp: now() });
}

function connect() {
  sessionId = `session_${Date.now()}`;
  const duration = 50 + Math.floor(Math.random() * 300);
  logConnection('connected', { broker, clientId: 'plant-gw-1', cleanSession: true, connectionDuration: duration, sessionPresent: false });
  logPerformance('connection_establish', duration);
}

// One step of simulated traffic, with the proportions of pipelines/sample/generate.js.
function step() {
  const device = pick(devices);
  const roll = Math.random();
  if (roll < 0.45) {
    correlationId = `pub_${Date.now()}_${suffix()}`;
    const topic = `sensors/${device}/${pick(metrics)}`;
    logMessage('sent', topic, JSON.stringify({ value: Math.round(Math.random() * 1000) / 10, unit: 'C' }), { qos: 1 });
    const duration = Math.random() < 0.05 ? 1000 + Math.floor(Math.random() * 4000) : Math.floor(Math.random() * 300);
    logPerformance('message_publish', duration, { topic, qos: 1 });
  } else if (roll < 0.7) {
    logMessage('received', `commands/${device}/set`, JSON.stringify({ setpoint: 21 }), { qos: 0 });
  } else if (roll < 0.8) {
    correlationId = `sub_${Date.now()}_${suffix()}`;
    logConnection('subscribed', { topic: `config/${device}/#`, qos: 1, granted: [{ topic: `config/${device}/#`, qos: 1 }] });
  } else if (roll < 0.87) {
    logMessage('received', `secrets/${device}/token`, 'abc123', { qos: 1 });
  } else if (roll < 0.94) {
    const error = new Error('connect ECONNREFUSED 10.0.0.5:1883');
    error.code = 'ECONNREFUSED';
    logError(error, { operation: 'connection', broker });
    logSecurity('connection_blocked', { broker, errorCode: error.code });
  } else {
    logConnection('disconnected');
    connect();
  }
}

connect();
let steps = 0;
const timer = setInterval(() => {
  step();
  steps += 1;
  if (maxEvents > 0 && steps >= maxEvents) {
    clearInterval(timer);
    logger.on('finish', () => process.exit(0));
    logger.end();
  }
}, Math.max(1, Math.round(1000 / eventsPerSecond)));

for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => { clearInterval(timer); logger.on('finish', () => process.exit(0)); logger.end(); });
}
