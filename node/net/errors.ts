/** The swarm key is missing or not in the `/key/swarm/psk/1.0.0/` base16 format. */
export class SwarmKeyError extends Error {
  constructor(message = 'swarm key: missing; a fleet node never starts without the private-network key') {
    super(message)
    this.name = 'SwarmKeyError'
  }
}

/** A {@link FleetNetInit} field is out of range or malformed; the message names the field. */
export class FleetNetInitError extends Error {
  constructor(message = 'invalid network options') {
    super(message)
    this.name = 'FleetNetInitError'
  }
}

/** A peer broke the direct-message framing (oversized, empty or truncated frame). */
export class FrameError extends Error {
  constructor(message = 'malformed frame') {
    super(message)
    this.name = 'FrameError'
  }
}

/** The network layer was used before {@link FleetNet.start} completed. */
export class NotStartedError extends Error {
  constructor(message = 'fleet network not started: call start() first') {
    super(message)
    this.name = 'NotStartedError'
  }
}
