// Regenerates mqtt-client.log: MQTT client logs exactly as the seed's StructuredMQTTLogger
// (section 10.3.1) writes them with winston, for a small fleet over a few minutes around
// midnight UTC (so the daily outputs split). Deterministic: fixed clock and seeded random.
//
//   npm install --prefix /tmp/gen winston@3.19.0
//   NODE_PATH=/tmp/gen/node_modules node pipelines/sample/generate.js > pipelines/sample/mqtt-client.log
const winston = require('winston');
const { Writable } = require('stream');

let clock = Date.parse('2026-11-24T23:52:00.000Z');
const now = () => new Date(clock).toISOString();
let seed = 42;
const random = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648);
const pick = (items) => items[Math.floor(random() * items.length)];

const out = new Writable({ write(chunk, _enc, done) { process.stdout.write(chunk); done(); } });
let correlationId = null;
let sessionId = null;
const logger = winston.createLogger({
  level: 'info',
  format: winston.format.combine(
    winston.format.timestamp({ format: now }),
    winston.format.errors({ stack: true }),
    winston.format.json(),
    winston.format.printf(({ timestamp, level, message, ...meta }) => {
      const entry = { '@timestamp': timestamp, level, message, service: 'mqtt-client', version: '1.0.0', ...meta };
      if (correlationId) entry.correlationId = correlationId;
      if (sessionId) entry.sessionId = sessionId;
      return JSON.stringify(entry);
    })
  ),
  transports: [new winston.transports.Stream({ stream: out })],
});

const broker = 'mqtt://broker.plant.local:1883';
const devices = ['dev-001', 'dev-002', 'dev-017', 'gw-north', 'gw-south'];
const metrics = ['temperature', 'humidity', 'vibration', 'power'];
const sensitive = [/\/password$/, /\/secret$/, /\/key$/, /\/token$/, /\/credential$/];

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

sessionId = `session_${clock}`;
logConnection('connected', { broker, clientId: 'plant-gw-1', cleanSession: true, connectionDuration: 182, sessionPresent: false });
logPerformance('connection_establish', 182);
for (let i = 0; i < 200; i++) {
  clock += 1000 + Math.floor(random() * 3000);
  const device = pick(devices);
  const topic = `sensors/${device}/${pick(metrics)}`;
  const roll = random();
  if (roll < 0.45) {
    correlationId = `pub_${clock}_${Math.floor(random() * 1e6).toString(36)}`;
    const payload = JSON.stringify({ value: Math.round(random() * 1000) / 10, unit: 'C' });
    logMessage('sent', topic, payload, { qos: 1 });
    // Mostly fast; now and then slow, once exactly at the 1000 ms threshold.
    const duration = i === 60 ? 1000 : i === 61 ? 1001 : random() < 0.1 ? 1000 + Math.floor(random() * 4000) : Math.floor(random() * 300);
    logPerformance('message_publish', duration, { topic, qos: 1 });
  } else if (roll < 0.7) {
    logMessage('received', `commands/${device}/set`, JSON.stringify({ setpoint: 21 }), { qos: 0 });
  } else if (roll < 0.8) {
    correlationId = `sub_${clock}_${Math.floor(random() * 1e6).toString(36)}`;
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
    logConnection('connected', { broker, clientId: 'plant-gw-1', cleanSession: true, connectionDuration: 95, sessionPresent: true });
  }
}
