// The event bookkeeping docker discovery and the docker-labels provider share (no Docker): a
// manager's tasks are polled every second, and fast for a bounded time after a service event.
import { afterEach, describe, expect, it, vi } from "vitest";
import {
  DOCKER_POLL_MS,
  DockerWatchState,
  TASK_BURST_MS,
  TASK_BURST_POLL_MS,
} from "../../../lb/src/discovery/docker/watch";
import { silentLogger } from "../../../lb/src/log/logger";

const manager = { Swarm: { LocalNodeState: "active", ControlAvailable: true } };

afterEach(() => {
  vi.useRealTimers();
});

describe("DockerWatchState", () => {
  it("polls a manager's tasks fast after a service event, for TASK_BURST_MS only; an engine is not polled", () => {
    vi.useFakeTimers();
    const w = new DockerWatchState((a) => a?.app === "x", silentLogger(), "test");
    expect(w.pollHintMs()).toBeUndefined();
    w.mode(manager);
    expect(w.pollHintMs()).toBe(DOCKER_POLL_MS);
    expect(w.relevant({ Type: "service", Action: "update" })).toBe(true);
    expect(w.pollHintMs()).toBe(TASK_BURST_POLL_MS);
    expect(TASK_BURST_POLL_MS).toBeLessThanOrEqual(150);
    vi.advanceTimersByTime(TASK_BURST_MS + 1);
    expect(w.pollHintMs()).toBe(DOCKER_POLL_MS);
    w.mode({});
    expect(w.relevant({ Type: "node", Action: "update" })).toBe(true);
    expect(w.pollHintMs()).toBeUndefined();
  });

  it("a matching container's die keeps it out until it starts again; others are not relevant", () => {
    const w = new DockerWatchState((a) => a?.app === "x", silentLogger(), "test");
    const die = { Type: "container", Action: "die", Actor: { ID: "c1", Attributes: { app: "x" } } };
    expect(w.relevant(die)).toBe(true);
    expect([...w.deadIds()]).toEqual(["c1"]);
    expect(w.relevant({ ...die, Action: "start" })).toBe(true);
    expect([...w.deadIds()]).toEqual([]);
    expect(w.relevant({ ...die, Actor: { ID: "c2", Attributes: { app: "y" } } })).toBe(false);
    expect(w.relevant({ ...die, Action: "exec_start: sh" })).toBe(false);
  });
});
