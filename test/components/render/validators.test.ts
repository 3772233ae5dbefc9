// Proves the real-tool checks used by the renderer tests reject broken input, so a passing
// renderer test means something. Uses cloud-init, shellcheck and systemd-analyze themselves.
import { describe, expect, it } from "vitest";
import {
  expectShellcheckClean,
  expectValidCloudConfig,
  expectValidUnit,
  haveTool,
} from "../support/tools";

describe("validators catch mistakes", () => {
  it("cloud-init schema rejects numeric file permissions", () => {
    if (!haveTool("cloud-init", "cloud-init")) return;
    expect(() =>
      expectValidCloudConfig(
        '#cloud-config\nwrite_files:\n  - path: "/x"\n    content: "y"\n    permissions: 0644\n',
        "bad",
      ),
    ).toThrow();
  });

  it("shellcheck rejects an unquoted expansion", () => {
    if (!haveTool("shellcheck", "shellcheck")) return;
    expect(() => expectShellcheckClean("#!/bin/sh\nf=$1\nrm -rf $f/x\n", "bad")).toThrow();
  });

  it("systemd-analyze rejects an unknown key", () => {
    if (!haveTool("systemd-analyze", "systemd")) return;
    expect(() =>
      expectValidUnit("[Service]\nExecStart=/bin/true\nRestartt=always\n", "bad.service", "bad"),
    ).toThrow();
  });

  it("systemd-analyze rejects a bad value", () => {
    if (!haveTool("systemd-analyze", "systemd")) return;
    expect(() =>
      expectValidUnit("[Service]\nExecStart=/bin/true\nRestart=sometimes\n", "bad2.service", "bad"),
    ).toThrow();
  });
});
