/** The one type-token prefix of every geoswarm component: `geoswarm:index:<Component>`. */
export const TYPE_PREFIX = "geoswarm:index:";

/** Pinned versions the components install unless told otherwise (stack config uses them too). */
export const DEFAULT_NODE_VERSION = "22.23.3";
export const DEFAULT_CONSUL_VERSION = "1.20.2-1";
export const DEFAULT_SWARM_IMAGE = "swarm:1.2.9";
