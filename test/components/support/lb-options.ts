// The balancer's unit and install-script options as the Balancer component passes them, for the
// renderer tests (their golden files are rendered from exactly these).
import { LB_CONFIG_PATH, LB_INSTALL_DIR, LB_UNIT, LB_USER } from "../../../components/balancer";
import { NODE_BIN } from "../../../components/render/scripts";

export const unitOptions = {
  nodePath: NODE_BIN,
  artifactPath: `${LB_INSTALL_DIR}/geoswarm-lb.cjs`,
  configPath: LB_CONFIG_PATH,
  user: LB_USER,
  lowestPort: 1024,
};

export const scriptOptions = {
  stagingDir: "/home/ubuntu/geoswarm-lb-staging",
  installDir: LB_INSTALL_DIR,
  configPath: LB_CONFIG_PATH,
  unitName: LB_UNIT,
  user: LB_USER,
  apiPort: 8888,
};
