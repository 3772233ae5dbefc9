// App stack: another team publishes its service on the platform stack's balancer. It reads the
// balancer's API (URL, login, password, CA) through a StackReference and needs no AWS packages.
import { LbServer } from "@geoswarm/geoswarm/lb-server";
import * as pulumi from "@pulumi/pulumi";

const config = new pulumi.Config();
const platform = new pulumi.StackReference(config.require("platformStack"));
const out = (name: string) => platform.requireOutput(name) as pulumi.Output<string>;

const shop = new LbServer("shop", {
  api: {
    url: out("balancerApiUrl"),
    username: out("balancerApiUser"),
    password: out("balancerApiPassword"), // a secret in the platform stack, and stays one
    caPem: out("balancerApiCaPem"),
  },
  // A replaced balancer instance starts empty: a new id re-registers the server.
  balancerId: out("balancerId"),
  server: {
    bind: `0.0.0.0:${config.requireNumber("port")}`,
    balance: "roundrobin",
    discovery: { kind: "static", static_list: config.requireObject<string[]>("backends") },
    healthcheck: { kind: "ping", interval: "5s", timeout: "1s" },
  },
});

export const shopBind = shop.bind;
