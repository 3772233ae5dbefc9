// An API change refused for a reason the client can fix.
/** A change refused for a reason the client can fix; `status` is the HTTP status to answer. */
export class ChangeError extends Error {
  constructor(
    readonly status: 400 | 403 | 404 | 409,
    message: string,
    /** Field-level problems, when there are several (validation); else empty. */
    readonly problems: string[] = [],
  ) {
    super(message);
  }
}
