/** The one type-token prefix of every geoswarm component: `geoswarm:index:<Component>`. */
export const TYPE_PREFIX = "geoswarm:index:";
