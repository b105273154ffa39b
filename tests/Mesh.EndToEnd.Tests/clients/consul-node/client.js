// Drives npm's `consul` package (2.0.1), a stock Consul client, against a Consul agent API.
//   node client.js PORT COMMAND 'JSON-ARGS'
// One-shot commands print the client's result as one JSON line. `watch` follows health.service with the
// client's own Watch (blocking queries on X-Consul-Index) and prints one line per change:
// {"at": <epoch ms when it arrived>, "index": "...", "ids": [...passing service ids]}.
"use strict";
const Consul = require("consul");

async function main() {
  const [port, command, json] = process.argv.slice(2);
  const args = JSON.parse(json || "{}");
  const consul = new Consul({ host: "127.0.0.1", port: Number(port) });
  switch (command) {
    case "register":
      await consul.agent.service.register(args);
      return print(true);
    case "deregister":
      await consul.agent.service.deregister({ id: args.id });
      return print(true);
    case "pass":
      await consul.agent.check.pass({ id: args.id, note: args.note });
      return print(true);
    case "health":
      return print(await consul.health.service({ service: args.service, passing: args.passing }));
    case "services":
      return print(await consul.agent.service.list());
    case "watch": {
      const watch = consul.watch({ method: consul.health.service, options: { service: args.service, passing: true, wait: "30s" } });
      watch.on("change", (data, res) => {
        const ids = data.map((entry) => entry.Service.ID).sort();
        print({ at: Date.now(), index: res.headers["x-consul-index"], ids });
      });
      watch.on("error", (err) => print({ at: Date.now(), error: err.message }));
      return; // runs until killed
    }
    default:
      throw new Error("unknown command " + command);
  }
}

function print(value) {
  process.stdout.write(JSON.stringify(value) + "\n");
}

main().catch((err) => {
  print({ error: err.name, message: err.message, status: err.response && err.response.statusCode });
  process.exit(3);
});
