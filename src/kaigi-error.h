/* kaigi-error.h
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#pragma once

#include <glib.h>

G_BEGIN_DECLS

/**
 * KAIGI_PROTOCOL_ERROR:
 *
 * Error domain for signaling-protocol errors. Errors in this domain are
 * from the #KaigiProtocolError enumeration; each code has a stable string
 * form sent to clients (see kaigi_protocol_error_code_to_string() and
 * docs/protocol.md).
 */
#define KAIGI_PROTOCOL_ERROR (kaigi_protocol_error_quark ())

/**
 * KaigiProtocolError:
 * @KAIGI_PROTOCOL_ERROR_INVALID_JSON: not JSON, not an object, or not UTF-8
 * @KAIGI_PROTOCOL_ERROR_TOO_DEEP: JSON nested deeper than allowed
 * @KAIGI_PROTOCOL_ERROR_UNKNOWN_TYPE: `type` missing or unknown
 * @KAIGI_PROTOCOL_ERROR_MISSING_FIELD: a required member is missing
 * @KAIGI_PROTOCOL_ERROR_INVALID_FIELD: a member has the wrong type or value
 * @KAIGI_PROTOCOL_ERROR_UNSUPPORTED_VERSION: protocol version is not 1
 * @KAIGI_PROTOCOL_ERROR_INVALID_ROOM_NAME: the room name breaks the rules
 * @KAIGI_PROTOCOL_ERROR_INVALID_NAME: the display name breaks the rules
 * @KAIGI_PROTOCOL_ERROR_NOT_JOINED: the message needs a join first
 * @KAIGI_PROTOCOL_ERROR_ALREADY_JOINED: a second join on one connection
 * @KAIGI_PROTOCOL_ERROR_UNEXPECTED_ANSWER: an answer while no offer is outstanding
 * @KAIGI_PROTOCOL_ERROR_INVALID_SDP: the SDP does not parse or was refused
 * @KAIGI_PROTOCOL_ERROR_UNKNOWN_MLINE: an ICE candidate for an unknown m-line
 * @KAIGI_PROTOCOL_ERROR_ROOM_FULL: the room takes no more participants
 * @KAIGI_PROTOCOL_ERROR_SHUTTING_DOWN: the server is stopping
 * @KAIGI_PROTOCOL_ERROR_INTERNAL: the server failed
 * @KAIGI_PROTOCOL_ERROR_ALREADY_RECORDING: the room is already recording
 * @KAIGI_PROTOCOL_ERROR_NOT_RECORDING: the room is not recording
 * @KAIGI_PROTOCOL_ERROR_UNKNOWN_PARTICIPANT: no such participant in the room
 * @KAIGI_PROTOCOL_ERROR_RECORDING_FAILED: a recording could not start or
 *   stopped on an error (an unwritable folder, a full disk)
 *
 * Signaling errors. The order is part of no interface; the string forms are.
 */
typedef enum
{
  KAIGI_PROTOCOL_ERROR_INVALID_JSON,
  KAIGI_PROTOCOL_ERROR_TOO_DEEP,
  KAIGI_PROTOCOL_ERROR_UNKNOWN_TYPE,
  KAIGI_PROTOCOL_ERROR_MISSING_FIELD,
  KAIGI_PROTOCOL_ERROR_INVALID_FIELD,
  KAIGI_PROTOCOL_ERROR_UNSUPPORTED_VERSION,
  KAIGI_PROTOCOL_ERROR_INVALID_ROOM_NAME,
  KAIGI_PROTOCOL_ERROR_INVALID_NAME,
  KAIGI_PROTOCOL_ERROR_NOT_JOINED,
  KAIGI_PROTOCOL_ERROR_ALREADY_JOINED,
  KAIGI_PROTOCOL_ERROR_UNEXPECTED_ANSWER,
  KAIGI_PROTOCOL_ERROR_INVALID_SDP,
  KAIGI_PROTOCOL_ERROR_UNKNOWN_MLINE,
  KAIGI_PROTOCOL_ERROR_ROOM_FULL,
  KAIGI_PROTOCOL_ERROR_SHUTTING_DOWN,
  KAIGI_PROTOCOL_ERROR_INTERNAL,
  KAIGI_PROTOCOL_ERROR_ALREADY_RECORDING,
  KAIGI_PROTOCOL_ERROR_NOT_RECORDING,
  KAIGI_PROTOCOL_ERROR_UNKNOWN_PARTICIPANT,
  KAIGI_PROTOCOL_ERROR_RECORDING_FAILED,
} KaigiProtocolError;

/**
 * KAIGI_NAME_ERROR:
 *
 * Error domain for room and display name validation (#KaigiNameError).
 */
#define KAIGI_NAME_ERROR (kaigi_name_error_quark ())

/**
 * KaigiNameError:
 * @KAIGI_NAME_ERROR_EMPTY: the name is empty
 * @KAIGI_NAME_ERROR_TOO_LONG: more than 64 characters
 * @KAIGI_NAME_ERROR_INVALID_UTF8: not valid UTF-8
 * @KAIGI_NAME_ERROR_INVALID_CHARACTER: a control character or '/'
 * @KAIGI_NAME_ERROR_SURROUNDING_SPACE: leading or trailing white space
 *
 * Why a room or display name was refused.
 */
typedef enum
{
  KAIGI_NAME_ERROR_EMPTY,
  KAIGI_NAME_ERROR_TOO_LONG,
  KAIGI_NAME_ERROR_INVALID_UTF8,
  KAIGI_NAME_ERROR_INVALID_CHARACTER,
  KAIGI_NAME_ERROR_SURROUNDING_SPACE,
} KaigiNameError;

/**
 * KAIGI_CONFIG_ERROR:
 *
 * Error domain for configuration errors (#KaigiConfigError).
 */
#define KAIGI_CONFIG_ERROR (kaigi_config_error_quark ())

/**
 * KaigiConfigError:
 * @KAIGI_CONFIG_ERROR_INVALID_VALUE: a value is out of range or malformed
 * @KAIGI_CONFIG_ERROR_UNKNOWN_KEY: a key or group the configuration does not have
 * @KAIGI_CONFIG_ERROR_FILE: the configuration file cannot be read or parsed
 * @KAIGI_CONFIG_ERROR_CERTIFICATE: the TLS certificate or key cannot be
 *   read, or they do not belong together
 * @KAIGI_CONFIG_ERROR_RECORDINGS_DIR: the recordings folder cannot be
 *   created or written
 *
 * Configuration errors; messages name the file, group and key.
 */
typedef enum
{
  KAIGI_CONFIG_ERROR_INVALID_VALUE,
  KAIGI_CONFIG_ERROR_UNKNOWN_KEY,
  KAIGI_CONFIG_ERROR_FILE,
  KAIGI_CONFIG_ERROR_CERTIFICATE,
  KAIGI_CONFIG_ERROR_RECORDINGS_DIR,
} KaigiConfigError;

/**
 * KAIGI_MEDIA_ERROR:
 *
 * Error domain for media (GStreamer) errors (#KaigiMediaError).
 */
#define KAIGI_MEDIA_ERROR (kaigi_media_error_quark ())

/**
 * KaigiMediaError:
 * @KAIGI_MEDIA_ERROR_MISSING_ELEMENT: a GStreamer element is not installed
 * @KAIGI_MEDIA_ERROR_LINK: elements could not be linked
 * @KAIGI_MEDIA_ERROR_STATE: an element refused a state change
 * @KAIGI_MEDIA_ERROR_NEGOTIATION: webrtcbin failed an offer/answer step
 *
 * Errors building or running media graphs.
 */
typedef enum
{
  KAIGI_MEDIA_ERROR_MISSING_ELEMENT,
  KAIGI_MEDIA_ERROR_LINK,
  KAIGI_MEDIA_ERROR_STATE,
  KAIGI_MEDIA_ERROR_NEGOTIATION,
} KaigiMediaError;

GQuark kaigi_protocol_error_quark (void);
GQuark kaigi_name_error_quark     (void);
GQuark kaigi_config_error_quark   (void);
GQuark kaigi_media_error_quark    (void);

G_END_DECLS
