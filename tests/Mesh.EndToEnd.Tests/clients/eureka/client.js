// Drives the stock eureka-js-client for EurekaTests: the config comes as JSON in argv[2]; commands
// come one per line on stdin; every answer is one JSON line on stdout (logs go to stderr).
'use strict';
const http = require('http');
const readline = require('readline');
const Eureka = require('eureka-js-client').Eureka;

const config = JSON.parse(process.argv[2]);
const log = (level) => (...args) => process.stderr.write(`[eureka-js-client ${level}] ${args.map(a => (a instanceof Error ? a.stack : typeof a === 'string' ? a : JSON.stringify(a))).join(' ')}\n`);
const logger = { debug: () => {}, info: log('info'), warn: log('warn'), error: log('error') };
const client = new Eureka({ ...config, logger });
const reply = (value) => process.stdout.write(JSON.stringify(value) + '\n');
const waiters = [];

const instances = (app) => client.getInstancesByAppId(app).map(i => ({ instanceId: i.instanceId, app: i.app, status: i.status, hostName: i.hostName, ipAddr: i.ipAddr, port: i.port.$, metadata: i.metadata }));

// After every registry fetch, answer the waits that are now met, with the time they were met.
client.on('registryUpdated', () => {
  for (let i = waiters.length - 1; i >= 0; i--) {
    const w = waiters[i];
    const found = instances(w.app).map(x => x.instanceId).sort();
    if (found.length === w.count) {
      waiters.splice(i, 1);
      reply({ id: w.id, at: Date.now(), instances: found });
    }
  }
});

// A status change the way an operator or the app itself makes it on a Eureka server (eureka-js-client has no call for it).
function status(method, value) {
  const { host, port, servicePath } = config.eureka;
  const path = `${servicePath}${config.instance.app}/${client.instanceId}/status${value ? `?value=${value}` : ''}`;
  return new Promise((resolve) => {
    const req = http.request({ host, port, path, method }, (res) => { res.resume(); res.on('end', () => resolve(res.statusCode)); });
    req.on('error', (e) => resolve(`error: ${e.message}`));
    req.end();
  });
}

readline.createInterface({ input: process.stdin }).on('line', async (line) => {
  const [id, command, ...args] = line.trim().split(' ');
  switch (command) {
    case 'start': client.start((err) => reply({ id, error: err ? String(err) : null })); break;
    case 'stop': client.stop((err) => reply({ id, error: err ? String(err) : null })); break;
    case 'instances': reply({ id, instances: instances(args[0]) }); break;
    case 'await-count': waiters.push({ id, app: args[0], count: Number(args[1]) }); break;
    case 'status': reply({ id, status: await status('PUT', args[0]) }); break;
    case 'clear-status': reply({ id, status: await status('DELETE', null) }); break;
    // As if the process hung: no more heartbeats, so the lease lapses; fetches go on.
    case 'stop-heartbeats': clearInterval(client.heartbeat); reply({ id }); break;
    case 'exit': process.exit(0); break;
    default: reply({ id, error: `unknown command ${command}` });
  }
});
