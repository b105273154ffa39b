"""Drives Debian's python3-consul (0.7.1), a stock Consul client, against a Consul agent API.

Usage: python3 python_consul.py PORT COMMAND 'JSON-ARGS'; prints the client's result as one JSON line.
Only the library's public calls are used, as an application would make them.
"""
import json
import sys
import time

import consul


def main():
    port, command, args = int(sys.argv[1]), sys.argv[2], json.loads(sys.argv[3] if len(sys.argv) > 3 else "{}")
    c = consul.Consul(host="127.0.0.1", port=port)
    if command == "register":
        check = None
        if "http" in args:
            check = consul.Check.http(args["http"], args.get("interval", "1s"), timeout=args.get("timeout"), deregister=args.get("deregister"))
        elif "tcp" in args:
            host, tcp_port = args["tcp"].rsplit(":", 1)
            check = consul.Check.tcp(host, int(tcp_port), args.get("interval", "1s"), timeout=args.get("timeout"))
        elif "ttl" in args:
            check = consul.Check.ttl(args["ttl"])
        result = c.agent.service.register(args["name"], service_id=args.get("id"), address=args.get("address"),
                                          port=args.get("port"), tags=args.get("tags"), check=check)
    elif command == "deregister":
        result = c.agent.service.deregister(args["id"])
    elif command == "ttl_pass":
        result = c.agent.check.ttl_pass(args["check_id"], notes=args.get("notes"))
    elif command == "ttl_fail":
        result = c.agent.check.ttl_fail(args["check_id"], notes=args.get("notes"))
    elif command == "health":
        started = time.monotonic()
        index, nodes = c.health.service(args["service"], index=args.get("index"), wait=args.get("wait"),
                                        passing=args.get("passing"), tag=args.get("tag"))
        result = {"index": index, "nodes": nodes, "seconds": time.monotonic() - started}
    elif command == "catalog_services":
        index, services = c.catalog.services()
        result = {"index": index, "services": services}
    elif command == "catalog_service":
        index, nodes = c.catalog.service(args["service"])
        result = {"index": index, "nodes": nodes}
    elif command == "agent_services":
        result = c.agent.services()
    elif command == "agent_checks":
        result = c.agent.checks()
    elif command == "agent_self":
        result = c.agent.self()
    elif command == "leader":
        result = c.status.leader()
    elif command == "kv_get":
        index, value = c.kv.get(args["key"])
        result = {"index": index, "value": value}
    else:
        raise SystemExit("unknown command " + command)
    print(json.dumps(result))


if __name__ == "__main__":
    try:
        main()
    except consul.base.ConsulException as e:
        print(json.dumps({"error": type(e).__name__, "message": str(e)}))
        sys.exit(3)
