/* kaigi-protocol.c — the only place that reads or writes JSON
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#include "config.h"

#include <string.h>

#include <json-glib/json-glib.h>

#include "kaigi-protocol.h"
#include "kaigi-names.h"

static const char * const message_type_names[KAIGI_MSG_N_TYPES] = {
  [KAIGI_MSG_JOIN] = "join",
  [KAIGI_MSG_ANSWER] = "answer",
  [KAIGI_MSG_ICE] = "ice",
  [KAIGI_MSG_MEDIA] = "media",
  [KAIGI_MSG_LEAVE] = "leave",
  [KAIGI_MSG_PING] = "ping",
  [KAIGI_MSG_CHAT] = "chat",
  [KAIGI_MSG_RECORDING_START] = "recording-start",
  [KAIGI_MSG_RECORDING_STOP] = "recording-stop",
  [KAIGI_MSG_PIN] = "pin",
};

static const char * const protocol_error_names[] = {
  [KAIGI_PROTOCOL_ERROR_INVALID_JSON] = "invalid-json",
  [KAIGI_PROTOCOL_ERROR_TOO_DEEP] = "too-deep",
  [KAIGI_PROTOCOL_ERROR_UNKNOWN_TYPE] = "unknown-type",
  [KAIGI_PROTOCOL_ERROR_MISSING_FIELD] = "missing-field",
  [KAIGI_PROTOCOL_ERROR_INVALID_FIELD] = "invalid-field",
  [KAIGI_PROTOCOL_ERROR_UNSUPPORTED_VERSION] = "unsupported-version",
  [KAIGI_PROTOCOL_ERROR_INVALID_ROOM_NAME] = "invalid-room-name",
  [KAIGI_PROTOCOL_ERROR_INVALID_NAME] = "invalid-name",
  [KAIGI_PROTOCOL_ERROR_NOT_JOINED] = "not-joined",
  [KAIGI_PROTOCOL_ERROR_ALREADY_JOINED] = "already-joined",
  [KAIGI_PROTOCOL_ERROR_UNEXPECTED_ANSWER] = "unexpected-answer",
  [KAIGI_PROTOCOL_ERROR_INVALID_SDP] = "invalid-sdp",
  [KAIGI_PROTOCOL_ERROR_UNKNOWN_MLINE] = "unknown-mline",
  [KAIGI_PROTOCOL_ERROR_ROOM_FULL] = "room-full",
  [KAIGI_PROTOCOL_ERROR_SHUTTING_DOWN] = "shutting-down",
  [KAIGI_PROTOCOL_ERROR_INTERNAL] = "internal",
  [KAIGI_PROTOCOL_ERROR_ALREADY_RECORDING] = "already-recording",
  [KAIGI_PROTOCOL_ERROR_NOT_RECORDING] = "not-recording",
  [KAIGI_PROTOCOL_ERROR_UNKNOWN_PARTICIPANT] = "unknown-participant",
  [KAIGI_PROTOCOL_ERROR_RECORDING_FAILED] = "recording-failed",
};

typedef enum
{
  FIELD_STRING,
  FIELD_BOOLEAN,
  FIELD_INT,
  FIELD_MLINE,
  FIELD_NULLABLE_STRING,
  FIELD_NAME_LIST,
} FieldKind;

typedef struct
{
  const char *name;
  FieldKind kind;
  gboolean required;
  gsize offset;
} FieldSpec;

#define FIELD(n, k, r, member) { n, k, r, G_STRUCT_OFFSET (KaigiMessage, member) }

/* Per-type member tables, in the manner of Janus's janus_json_parameter
 * lists: one row per member, checked before the message reaches any code
 * that acts on it. */
static const FieldSpec join_fields[] = {
  FIELD ("room", FIELD_STRING, TRUE, room),
  FIELD ("name", FIELD_STRING, TRUE, name),
  FIELD ("version", FIELD_INT, FALSE, version),
  FIELD ("audio", FIELD_BOOLEAN, FALSE, audio),
  FIELD ("video", FIELD_BOOLEAN, FALSE, video),
  FIELD ("video_codecs", FIELD_NAME_LIST, FALSE, video_codecs),
  { NULL }
};
static const FieldSpec answer_fields[] = {
  FIELD ("sdp", FIELD_STRING, TRUE, sdp),
  { NULL }
};
static const FieldSpec ice_fields[] = {
  FIELD ("candidate", FIELD_STRING, TRUE, candidate),
  FIELD ("sdpMLineIndex", FIELD_MLINE, TRUE, mline_index),
  { NULL }
};
static const FieldSpec media_fields[] = {
  FIELD ("audio", FIELD_BOOLEAN, TRUE, audio),
  FIELD ("video", FIELD_BOOLEAN, TRUE, video),
  { NULL }
};
static const FieldSpec chat_fields[] = {
  FIELD ("text", FIELD_STRING, TRUE, text),
  { NULL }
};
static const FieldSpec pin_fields[] = {
  FIELD ("participant", FIELD_NULLABLE_STRING, TRUE, participant),
  { NULL }
};
static const FieldSpec no_fields[] = {
  { NULL }
};

static const struct
{
  const FieldSpec *fields;
  KaigiChannel channel;
} message_specs[KAIGI_MSG_N_TYPES] = {
  [KAIGI_MSG_JOIN] = { join_fields, KAIGI_CHANNEL_SIGNALING },
  [KAIGI_MSG_ANSWER] = { answer_fields, KAIGI_CHANNEL_SIGNALING },
  [KAIGI_MSG_ICE] = { ice_fields, KAIGI_CHANNEL_SIGNALING },
  [KAIGI_MSG_MEDIA] = { media_fields, KAIGI_CHANNEL_SIGNALING },
  [KAIGI_MSG_LEAVE] = { no_fields, KAIGI_CHANNEL_SIGNALING },
  [KAIGI_MSG_PING] = { no_fields, KAIGI_CHANNEL_SIGNALING },
  [KAIGI_MSG_CHAT] = { chat_fields, KAIGI_CHANNEL_CHAT },
  [KAIGI_MSG_RECORDING_START] = { no_fields, KAIGI_CHANNEL_SIGNALING },
  [KAIGI_MSG_RECORDING_STOP] = { no_fields, KAIGI_CHANNEL_SIGNALING },
  [KAIGI_MSG_PIN] = { pin_fields, KAIGI_CHANNEL_SIGNALING },
};

/**
 * kaigi_message_free:
 * @message: (transfer full) (nullable): a message
 *
 * Frees @message and its strings.
 */
void
kaigi_message_free (KaigiMessage *message)
{
  if (message == NULL)
    return;

  g_free (message->room);
  g_free (message->name);
  g_free (message->sdp);
  g_free (message->candidate);
  g_free (message->text);
  g_free (message->participant);
  g_strfreev (message->video_codecs);
  g_free (message);
}

/**
 * kaigi_message_type_to_string:
 * @type: a message type
 *
 * Returns: (transfer none): the protocol name of @type, e.g. "join"
 */
const char *
kaigi_message_type_to_string (KaigiMessageType type)
{
  g_return_val_if_fail (type < KAIGI_MSG_N_TYPES, NULL);

  return message_type_names[type];
}

/**
 * kaigi_protocol_error_code_to_string:
 * @code: a #KaigiProtocolError
 *
 * Returns: (transfer none): the stable string form of @code sent to clients
 *   (docs/protocol.md), or "internal" for an unknown code
 */
const char *
kaigi_protocol_error_code_to_string (int code)
{
  if (code < 0 || code >= (int) G_N_ELEMENTS (protocol_error_names))
    return "internal";

  return protocol_error_names[code];
}

/**
 * kaigi_protocol_check_depth:
 * @text: JSON text, not necessarily NUL-terminated
 * @len: length of @text in bytes
 * @max_depth: deepest nesting allowed
 * @error: return location for a %KAIGI_PROTOCOL_ERROR_TOO_DEEP error
 *
 * Scans @text for object/array nesting without parsing it, skipping over
 * string literals (RFC 8259 §7). It bounds the recursion json-glib would do
 * (json-glib 1.6 overflows its stack on very deep nesting).
 *
 * Returns: %TRUE when no bracket nests deeper than @max_depth
 */
gboolean
kaigi_protocol_check_depth (const char  *text,
                            gsize        len,
                            guint        max_depth,
                            GError     **error)
{
  guint depth = 0;
  gboolean in_string = FALSE;
  gsize i;

  for (i = 0; i < len; i++)
    {
      char c = text[i];

      if (in_string)
        {
          if (c == '\\')
            i++;
          else if (c == '"')
            in_string = FALSE;
          continue;
        }

      switch (c)
        {
        case '"':
          in_string = TRUE;
          break;
        case '{':
        case '[':
          if (++depth > max_depth)
            {
              g_set_error (error, KAIGI_PROTOCOL_ERROR, KAIGI_PROTOCOL_ERROR_TOO_DEEP,
                           "JSON is nested deeper than %u levels", max_depth);
              return FALSE;
            }
          break;
        case '}':
        case ']':
          if (depth > 0)
            depth--;
          break;
        default:
          break;
        }
    }

  return TRUE;
}

static gboolean
read_field (JsonObject       *object,
            const FieldSpec  *spec,
            KaigiMessage     *message,
            GError          **error)
{
  JsonNode *node = json_object_get_member (object, spec->name);
  gpointer dest = G_STRUCT_MEMBER_P (message, spec->offset);
  GType value_type;

  if (node == NULL)
    {
      if (spec->required)
        {
          g_set_error (error, KAIGI_PROTOCOL_ERROR, KAIGI_PROTOCOL_ERROR_MISSING_FIELD,
                       "member “%s” is required", spec->name);
          return FALSE;
        }
      return TRUE;
    }

  value_type = JSON_NODE_HOLDS_VALUE (node) ? json_node_get_value_type (node) : G_TYPE_INVALID;

  switch (spec->kind)
    {
    case FIELD_STRING:
      if (value_type != G_TYPE_STRING)
        goto wrong_type;
      *(char **) dest = json_node_dup_string (node);
      return TRUE;

    case FIELD_NULLABLE_STRING:
      if (JSON_NODE_HOLDS_NULL (node))
        return TRUE;
      if (value_type != G_TYPE_STRING)
        goto wrong_type;
      *(char **) dest = json_node_dup_string (node);
      return TRUE;

    case FIELD_BOOLEAN:
      if (value_type != G_TYPE_BOOLEAN)
        goto wrong_type;
      *(gboolean *) dest = json_node_get_boolean (node);
      return TRUE;

    case FIELD_INT:
      if (value_type != G_TYPE_INT64)
        goto wrong_type;
      *(gint64 *) dest = json_node_get_int (node);
      return TRUE;

    case FIELD_MLINE:
      {
        gint64 v;

        if (value_type != G_TYPE_INT64)
          goto wrong_type;
        v = json_node_get_int (node);
        if (v < 0 || v > G_MAXUINT16)
          {
            g_set_error (error, KAIGI_PROTOCOL_ERROR, KAIGI_PROTOCOL_ERROR_INVALID_FIELD,
                         "member “%s” must be an m-line index from 0 to 65535", spec->name);
            return FALSE;
          }
        *(guint *) dest = (guint) v;
        return TRUE;
      }

    case FIELD_NAME_LIST:
      {
        JsonArray *array = JSON_NODE_HOLDS_ARRAY (node) ? json_node_get_array (node) : NULL;
        g_autoptr(GStrvBuilder) names = g_strv_builder_new ();
        guint n = array ? json_array_get_length (array) : 0;

        if (array == NULL || n > KAIGI_PROTOCOL_MAX_NAME_LIST)
          goto wrong_type;
        for (guint i = 0; i < n; i++)
          {
            JsonNode *element = json_array_get_element (array, i);
            const char *name = JSON_NODE_HOLDS_VALUE (element) &&
                               json_node_get_value_type (element) == G_TYPE_STRING ?
                               json_node_get_string (element) : NULL;

            if (name == NULL || name[0] == '\0' || strlen (name) > 32)
              goto wrong_type;
            g_strv_builder_add (names, name);
          }
        *(char ***) dest = g_strv_builder_end (names);
        return TRUE;
      }

    default:
      g_assert_not_reached ();
    }

wrong_type:
  g_set_error (error, KAIGI_PROTOCOL_ERROR, KAIGI_PROTOCOL_ERROR_INVALID_FIELD,
               "member “%s” must be a %s", spec->name,
               spec->kind == FIELD_STRING ? "string" :
               spec->kind == FIELD_NULLABLE_STRING ? "string or null" :
               spec->kind == FIELD_BOOLEAN ? "boolean" :
               spec->kind == FIELD_NAME_LIST ? "list of at most " G_STRINGIFY (KAIGI_PROTOCOL_MAX_NAME_LIST)
                                               " names of 1 to 32 bytes" :
               "whole number");
  return FALSE;
}

static gboolean
validate_message (KaigiMessage  *message,
                  GError       **error)
{
  g_autoptr(GError) local_error = NULL;

  switch (message->type)
    {
    case KAIGI_MSG_JOIN:
      if (message->version != KAIGI_PROTOCOL_VERSION)
        {
          g_set_error (error, KAIGI_PROTOCOL_ERROR, KAIGI_PROTOCOL_ERROR_UNSUPPORTED_VERSION,
                       "protocol version %" G_GINT64_FORMAT " is not supported; this server speaks %d",
                       message->version, KAIGI_PROTOCOL_VERSION);
          return FALSE;
        }
      if (!kaigi_name_validate (message->room, &local_error))
        {
          g_set_error (error, KAIGI_PROTOCOL_ERROR, KAIGI_PROTOCOL_ERROR_INVALID_ROOM_NAME,
                       "invalid room name: %s", local_error->message);
          return FALSE;
        }
      if (!kaigi_name_validate (message->name, &local_error))
        {
          g_set_error (error, KAIGI_PROTOCOL_ERROR, KAIGI_PROTOCOL_ERROR_INVALID_NAME,
                       "invalid display name: %s", local_error->message);
          return FALSE;
        }
      return TRUE;

    case KAIGI_MSG_ANSWER:
      if (message->sdp[0] == '\0')
        {
          g_set_error_literal (error, KAIGI_PROTOCOL_ERROR, KAIGI_PROTOCOL_ERROR_INVALID_SDP,
                               "the SDP is empty");
          return FALSE;
        }
      return TRUE;

    case KAIGI_MSG_CHAT:
      {
        glong n = g_utf8_strlen (message->text, -1);

        if (n < 1 || n > KAIGI_PROTOCOL_MAX_CHAT_CHARS)
          {
            g_set_error (error, KAIGI_PROTOCOL_ERROR, KAIGI_PROTOCOL_ERROR_INVALID_FIELD,
                         "chat text must have 1 to %d characters", KAIGI_PROTOCOL_MAX_CHAT_CHARS);
            return FALSE;
          }
        return TRUE;
      }

    case KAIGI_MSG_ICE:
    case KAIGI_MSG_MEDIA:
    case KAIGI_MSG_RECORDING_START:
    case KAIGI_MSG_RECORDING_STOP:
    case KAIGI_MSG_PIN:
    case KAIGI_MSG_LEAVE:
    case KAIGI_MSG_PING:
    case KAIGI_MSG_N_TYPES:
    default:
      return TRUE;
    }
}

/**
 * kaigi_protocol_parse:
 * @channel: where the text arrived; each channel accepts its own types
 * @text: the message text (UTF-8 JSON), not necessarily NUL-terminated
 * @len: length of @text in bytes
 * @request_type: (out) (optional) (transfer full): the `type` member if one
 *   could be read, even when parsing then fails, for the error reply
 * @error: return location for a #KAIGI_PROTOCOL_ERROR
 *
 * Parses and validates one client message against the per-type member
 * tables (docs/protocol.md). Size is the caller's job
 * (%KAIGI_PROTOCOL_MAX_MESSAGE_SIZE); nesting depth is checked here before
 * parsing. Unknown members are ignored.
 *
 * Pure function; may be called from any thread.
 *
 * Returns: (transfer full) (nullable): the message, or %NULL with @error set
 */
KaigiMessage *
kaigi_protocol_parse (KaigiChannel   channel,
                      const char    *text,
                      gsize          len,
                      char         **request_type,
                      GError       **error)
{
  g_autoptr(JsonParser) parser = NULL;
  g_autoptr(KaigiMessage) message = NULL;
  g_autoptr(GError) local_error = NULL;
  JsonObject *object;
  JsonNode *root, *type_node;
  const char *type;
  const FieldSpec *spec;
  guint i;

  g_return_val_if_fail (text != NULL || len == 0, NULL);

  if (request_type)
    *request_type = NULL;

  if (!g_utf8_validate_len (text, len, NULL))
    {
      g_set_error_literal (error, KAIGI_PROTOCOL_ERROR, KAIGI_PROTOCOL_ERROR_INVALID_JSON,
                           "the message is not valid UTF-8");
      return NULL;
    }

  if (!kaigi_protocol_check_depth (text, len, KAIGI_PROTOCOL_MAX_DEPTH, error))
    return NULL;

  parser = json_parser_new_immutable ();
  if (!json_parser_load_from_data (parser, text, len, &local_error))
    {
      g_set_error (error, KAIGI_PROTOCOL_ERROR, KAIGI_PROTOCOL_ERROR_INVALID_JSON,
                   "the message is not JSON: %s", local_error->message);
      return NULL;
    }

  root = json_parser_get_root (parser);
  if (root == NULL || !JSON_NODE_HOLDS_OBJECT (root))
    {
      g_set_error_literal (error, KAIGI_PROTOCOL_ERROR, KAIGI_PROTOCOL_ERROR_INVALID_JSON,
                           "the message is not a JSON object");
      return NULL;
    }

  object = json_node_get_object (root);
  type_node = json_object_get_member (object, "type");
  if (type_node == NULL || !JSON_NODE_HOLDS_VALUE (type_node) ||
      json_node_get_value_type (type_node) != G_TYPE_STRING)
    {
      g_set_error_literal (error, KAIGI_PROTOCOL_ERROR, KAIGI_PROTOCOL_ERROR_UNKNOWN_TYPE,
                           "the message has no string member “type”");
      return NULL;
    }

  type = json_node_get_string (type_node);
  if (request_type)
    *request_type = g_strdup (type);

  message = g_new0 (KaigiMessage, 1);
  message->type = KAIGI_MSG_N_TYPES;
  for (i = 0; i < KAIGI_MSG_N_TYPES; i++)
    {
      if (message_specs[i].channel == channel && g_str_equal (type, message_type_names[i]))
        {
          message->type = i;
          break;
        }
    }

  if (message->type == KAIGI_MSG_N_TYPES)
    {
      g_set_error (error, KAIGI_PROTOCOL_ERROR, KAIGI_PROTOCOL_ERROR_UNKNOWN_TYPE,
                   "unknown message type “%s”", type);
      return NULL;
    }

  message->version = KAIGI_PROTOCOL_VERSION;
  for (spec = message_specs[message->type].fields; spec->name != NULL; spec++)
    {
      if (!read_field (object, spec, message, error))
        return NULL;
    }

  if (!validate_message (message, error))
    return NULL;

  return g_steal_pointer (&message);
}

/* Building */

static char *
builder_to_string (JsonBuilder *builder)
{
  g_autoptr(JsonGenerator) generator = json_generator_new ();
  g_autoptr(JsonNode) root = json_builder_get_root (builder);

  json_generator_set_root (generator, root);
  return json_generator_to_data (generator, NULL);
}

static JsonBuilder *
begin_message (const char *type)
{
  JsonBuilder *builder = json_builder_new_immutable ();

  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "type");
  json_builder_add_string_value (builder, type);
  return builder;
}

static char *
end_message (JsonBuilder *builder)
{
  json_builder_end_object (builder);
  return builder_to_string (builder);
}

static void
add_string (JsonBuilder *builder,
            const char  *name,
            const char  *value)
{
  json_builder_set_member_name (builder, name);
  if (value)
    json_builder_add_string_value (builder, value);
  else
    json_builder_add_null_value (builder);
}

/* ISO 8601 UTC with milliseconds (RFC 3339 §5.6), as JavaScript's
 * Date.toISOString() writes it */
static char *
format_time (GDateTime *time)
{
  g_autoptr(GDateTime) utc = g_date_time_to_utc (time);
  g_autofree char *seconds = g_date_time_format (utc, "%Y-%m-%dT%H:%M:%S");

  return g_strdup_printf ("%s.%03dZ", seconds, g_date_time_get_microsecond (utc) / 1000);
}

static void
add_participant (JsonBuilder                *builder,
                 const KaigiParticipantInfo *info)
{
  json_builder_begin_object (builder);
  add_string (builder, "id", info->id);
  add_string (builder, "name", info->name);
  json_builder_set_member_name (builder, "audio");
  json_builder_add_boolean_value (builder, info->audio);
  json_builder_set_member_name (builder, "video");
  json_builder_add_boolean_value (builder, info->video);
  json_builder_end_object (builder);
}

/**
 * kaigi_protocol_build_joined:
 * @id: the new participant's id
 * @room: the room name
 * @name: the display name
 * @others: (array length=n_others): the other participants
 * @n_others: number of @others
 * @ice_servers: (element-type KaigiIceServer) (nullable): ICE servers for the client
 *
 * Builds the `joined` reply (docs/protocol.md).
 *
 * Returns: (transfer full): the JSON text
 */
char *
kaigi_protocol_build_joined (const char                 *id,
                             const char                 *room,
                             const char                 *name,
                             const KaigiParticipantInfo *others,
                             guint                       n_others,
                             GPtrArray                  *ice_servers)
{
  g_autoptr(JsonBuilder) builder = begin_message ("joined");
  guint i;

  json_builder_set_member_name (builder, "version");
  json_builder_add_int_value (builder, KAIGI_PROTOCOL_VERSION);
  add_string (builder, "id", id);
  add_string (builder, "room", room);
  add_string (builder, "name", name);

  json_builder_set_member_name (builder, "participants");
  json_builder_begin_array (builder);
  for (i = 0; i < n_others; i++)
    add_participant (builder, &others[i]);
  json_builder_end_array (builder);

  json_builder_set_member_name (builder, "ice_servers");
  json_builder_begin_array (builder);
  for (i = 0; ice_servers && i < ice_servers->len; i++)
    {
      const KaigiIceServer *server = g_ptr_array_index (ice_servers, i);
      char **url;

      json_builder_begin_object (builder);
      json_builder_set_member_name (builder, "urls");
      json_builder_begin_array (builder);
      for (url = server->urls; url && *url; url++)
        json_builder_add_string_value (builder, *url);
      json_builder_end_array (builder);
      if (server->username)
        add_string (builder, "username", server->username);
      if (server->credential)
        add_string (builder, "credential", server->credential);
      json_builder_end_object (builder);
    }
  json_builder_end_array (builder);

  return end_message (builder);
}

/**
 * kaigi_protocol_build_offer:
 * @sdp: the SDP offer text
 * @publish_audio_mid: (nullable): mid of the client's microphone m-line
 * @publish_video_mid: (nullable): mid of the client's camera m-line
 * @tracks: (array length=n_tracks): forwarded tracks by mid
 * @n_tracks: number of @tracks
 *
 * Builds an `offer` message.
 *
 * Returns: (transfer full): the JSON text
 */
char *
kaigi_protocol_build_offer (const char           *sdp,
                            const char           *publish_audio_mid,
                            const char           *publish_video_mid,
                            const KaigiTrackInfo *tracks,
                            guint                 n_tracks)
{
  g_autoptr(JsonBuilder) builder = begin_message ("offer");
  guint i;

  add_string (builder, "sdp", sdp);
  json_builder_set_member_name (builder, "publish");
  json_builder_begin_object (builder);
  add_string (builder, "audio", publish_audio_mid);
  add_string (builder, "video", publish_video_mid);
  json_builder_end_object (builder);

  json_builder_set_member_name (builder, "tracks");
  json_builder_begin_array (builder);
  for (i = 0; i < n_tracks; i++)
    {
      json_builder_begin_object (builder);
      add_string (builder, "mid", tracks[i].mid);
      add_string (builder, "participant", tracks[i].participant_id);
      add_string (builder, "kind", tracks[i].kind);
      json_builder_end_object (builder);
    }
  json_builder_end_array (builder);

  return end_message (builder);
}

/**
 * kaigi_protocol_build_ice:
 * @candidate: an ICE candidate line (RFC 8839 §5.1), without "a="
 * @mline_index: its m-line index
 *
 * Returns: (transfer full): an `ice` message
 */
char *
kaigi_protocol_build_ice (const char *candidate,
                          guint       mline_index)
{
  g_autoptr(JsonBuilder) builder = begin_message ("ice");

  add_string (builder, "candidate", candidate);
  json_builder_set_member_name (builder, "sdpMLineIndex");
  json_builder_add_int_value (builder, mline_index);
  return end_message (builder);
}

static char *
build_participant_message (const char                 *type,
                           const KaigiParticipantInfo *info)
{
  g_autoptr(JsonBuilder) builder = begin_message (type);

  json_builder_set_member_name (builder, "participant");
  add_participant (builder, info);
  return end_message (builder);
}

/**
 * kaigi_protocol_build_participant_joined:
 * @info: the participant
 *
 * Returns: (transfer full): a `participant-joined` message
 */
char *
kaigi_protocol_build_participant_joined (const KaigiParticipantInfo *info)
{
  return build_participant_message ("participant-joined", info);
}

/**
 * kaigi_protocol_build_participant_updated:
 * @info: the participant
 *
 * Returns: (transfer full): a `participant-updated` message
 */
char *
kaigi_protocol_build_participant_updated (const KaigiParticipantInfo *info)
{
  return build_participant_message ("participant-updated", info);
}

/**
 * kaigi_protocol_build_participant_left:
 * @id: the participant id
 * @reason: "left", "disconnected", "timeout" or "failed"
 *
 * Returns: (transfer full): a `participant-left` message
 */
char *
kaigi_protocol_build_participant_left (const char *id,
                                       const char *reason)
{
  g_autoptr(JsonBuilder) builder = begin_message ("participant-left");

  add_string (builder, "id", id);
  add_string (builder, "reason", reason);
  return end_message (builder);
}

/**
 * kaigi_protocol_build_pong:
 *
 * Returns: (transfer full): a `pong` message
 */
char *
kaigi_protocol_build_pong (void)
{
  g_autoptr(JsonBuilder) builder = begin_message ("pong");

  return end_message (builder);
}

/**
 * kaigi_protocol_build_server_shutdown:
 * @grace_s: seconds connected participants may stay before the server
 *   closes their connections; 0 when it closes them at once
 *
 * Returns: (transfer full): a `server-shutdown` message
 */
char *
kaigi_protocol_build_server_shutdown (guint grace_s)
{
  g_autoptr(JsonBuilder) builder = begin_message ("server-shutdown");

  json_builder_set_member_name (builder, "grace");
  json_builder_add_int_value (builder, grace_s);
  return end_message (builder);
}

/**
 * kaigi_protocol_build_error:
 * @error: the error; a #KAIGI_PROTOCOL_ERROR gives its code, any other
 *   domain is sent as "internal"
 * @request_type: (nullable): the `type` of the refused message
 *
 * Returns: (transfer full): an `error` message
 */
char *
kaigi_protocol_build_error (const GError *error,
                            const char   *request_type)
{
  g_autoptr(JsonBuilder) builder = begin_message ("error");
  int code = error->domain == KAIGI_PROTOCOL_ERROR ? error->code : KAIGI_PROTOCOL_ERROR_INTERNAL;

  add_string (builder, "code", kaigi_protocol_error_code_to_string (code));
  add_string (builder, "message", error->message);
  if (request_type)
    add_string (builder, "request", request_type);
  return end_message (builder);
}

/**
 * kaigi_protocol_build_chat:
 * @from_id: sender's participant id
 * @from_name: sender's display name
 * @text: the text
 * @time: when the server received it
 *
 * The time is ISO 8601 UTC with milliseconds (RFC 3339 §5.6), as
 * JavaScript's Date.toISOString() writes it.
 *
 * Returns: (transfer full): a relayed `chat` message (data channel)
 */
char *
kaigi_protocol_build_chat (const char *from_id,
                           const char *from_name,
                           const char *text,
                           GDateTime  *time)
{
  g_autoptr(JsonBuilder) builder = begin_message ("chat");
  g_autofree char *iso = format_time (time);

  add_string (builder, "from", from_id);
  add_string (builder, "name", from_name);
  add_string (builder, "text", text);
  add_string (builder, "time", iso);
  return end_message (builder);
}

static void
add_recording (JsonBuilder              *builder,
               const KaigiRecordingInfo *recording)
{
  g_autofree char *started = NULL;

  if (recording == NULL)
    {
      json_builder_add_null_value (builder);
      return;
    }

  started = format_time (recording->started);
  json_builder_begin_object (builder);
  add_string (builder, "id", recording->id);
  add_string (builder, "file", recording->file);
  add_string (builder, "started", started);
  json_builder_end_object (builder);
}

static void
add_nullable_string (JsonBuilder *builder,
                     const char  *name,
                     const char  *value)
{
  json_builder_set_member_name (builder, name);
  if (value)
    json_builder_add_string_value (builder, value);
  else
    json_builder_add_null_value (builder);
}

static void
add_room (JsonBuilder         *builder,
          const KaigiRoomInfo *room)
{
  guint i;

  json_builder_begin_object (builder);
  add_string (builder, "name", room->name);
  json_builder_set_member_name (builder, "participants");
  json_builder_begin_array (builder);
  for (i = 0; room->participants && i < room->participants->len; i++)
    add_participant (builder, &g_array_index (room->participants, KaigiParticipantInfo, i));
  json_builder_end_array (builder);
  json_builder_set_member_name (builder, "recording");
  add_recording (builder, room->recording);
  add_nullable_string (builder, "speaker", room->speaker);
  add_nullable_string (builder, "pinned", room->pinned);
  json_builder_end_object (builder);
}

/**
 * kaigi_protocol_build_room:
 * @room: the room
 *
 * Builds the REST ROOM object of DESIGN.md.
 *
 * Returns: (transfer full): the JSON text
 */
char *
kaigi_protocol_build_room (const KaigiRoomInfo *room)
{
  g_autoptr(JsonBuilder) builder = json_builder_new_immutable ();

  add_room (builder, room);
  return builder_to_string (builder);
}

/**
 * kaigi_protocol_build_rooms:
 * @rooms: (array length=n_rooms): the rooms
 * @n_rooms: number of rooms
 *
 * Builds `{"rooms":[ROOM…]}` for `GET /api/rooms`.
 *
 * Returns: (transfer full): the JSON text
 */
char *
kaigi_protocol_build_rooms (const KaigiRoomInfo *rooms,
                            guint                n_rooms)
{
  g_autoptr(JsonBuilder) builder = json_builder_new_immutable ();
  guint i;

  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "rooms");
  json_builder_begin_array (builder);
  for (i = 0; i < n_rooms; i++)
    add_room (builder, &rooms[i]);
  json_builder_end_array (builder);
  json_builder_end_object (builder);
  return builder_to_string (builder);
}

/**
 * kaigi_protocol_build_api_error:
 * @message: what went wrong, for people
 *
 * Returns: (transfer full): `{"error": message}`
 */
char *
kaigi_protocol_build_api_error (const char *message)
{
  g_autoptr(JsonBuilder) builder = json_builder_new_immutable ();

  json_builder_begin_object (builder);
  add_string (builder, "error", message);
  json_builder_end_object (builder);
  return builder_to_string (builder);
}

/**
 * kaigi_protocol_build_speaker:
 * @speaker: (nullable): id of the active speaker
 * @pinned: (nullable): id of the pinned participant, who takes the main
 *   tile whoever speaks
 *
 * Returns: (transfer full): a `speaker` message
 */
char *
kaigi_protocol_build_speaker (const char *speaker,
                              const char *pinned)
{
  g_autoptr(JsonBuilder) builder = begin_message ("speaker");

  add_nullable_string (builder, "speaker", speaker);
  add_nullable_string (builder, "pinned", pinned);
  return end_message (builder);
}

/**
 * kaigi_protocol_build_recording:
 * @recording: (nullable): the running recording, %NULL when none runs
 * @error_message: (nullable): why the recording stopped, when it stopped
 *   on an error
 *
 * Returns: (transfer full): a `recording` message
 */
char *
kaigi_protocol_build_recording (const KaigiRecordingInfo *recording,
                                const char               *error_message)
{
  g_autoptr(JsonBuilder) builder = begin_message ("recording");

  json_builder_set_member_name (builder, "recording");
  add_recording (builder, recording);
  if (error_message)
    add_string (builder, "error", error_message);
  return end_message (builder);
}

/**
 * kaigi_protocol_build_recording_object:
 * @recording: a running recording
 *
 * Builds the REST recording object of DESIGN.md,
 * `{"id":…, "file":…, "started":ISO-8601}`.
 *
 * Returns: (transfer full): the JSON text
 */
char *
kaigi_protocol_build_recording_object (const KaigiRecordingInfo *recording)
{
  g_autoptr(JsonBuilder) builder = json_builder_new_immutable ();

  add_recording (builder, recording);
  return builder_to_string (builder);
}

/**
 * kaigi_protocol_build_recording_finished:
 * @id: the recording's id
 * @file: the finished file's name
 * @duration_ms: its duration (ms)
 *
 * Returns: (transfer full): `{"id":…, "file":…, "duration_ms":…}`
 */
char *
kaigi_protocol_build_recording_finished (const char *id,
                                         const char *file,
                                         gint64      duration_ms)
{
  g_autoptr(JsonBuilder) builder = json_builder_new_immutable ();

  json_builder_begin_object (builder);
  add_string (builder, "id", id);
  add_string (builder, "file", file);
  json_builder_set_member_name (builder, "duration_ms");
  json_builder_add_int_value (builder, duration_ms);
  json_builder_end_object (builder);
  return builder_to_string (builder);
}

/**
 * kaigi_protocol_build_recordings:
 * @files: (array length=n_files): recordings on disk
 * @n_files: number of @files
 *
 * Builds `{"recordings":[{"file", "room", "bytes", "duration_ms",
 * "started", "recovered"}…]}` for `GET /api/recordings`; unknown values
 * are null.
 *
 * Returns: (transfer full): the JSON text
 */
char *
kaigi_protocol_build_recordings (const KaigiRecordingFile *files,
                                 guint                     n_files)
{
  g_autoptr(JsonBuilder) builder = json_builder_new_immutable ();
  guint i;

  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "recordings");
  json_builder_begin_array (builder);
  for (i = 0; i < n_files; i++)
    {
      g_autofree char *started = files[i].started ? format_time (files[i].started) : NULL;

      json_builder_begin_object (builder);
      add_string (builder, "file", files[i].file);
      add_nullable_string (builder, "room", files[i].room);
      json_builder_set_member_name (builder, "bytes");
      json_builder_add_int_value (builder, (gint64) files[i].bytes);
      json_builder_set_member_name (builder, "duration_ms");
      if (files[i].duration_ms >= 0)
        json_builder_add_int_value (builder, files[i].duration_ms);
      else
        json_builder_add_null_value (builder);
      add_nullable_string (builder, "started", started);
      json_builder_set_member_name (builder, "recovered");
      json_builder_add_boolean_value (builder, files[i].recovered);
      json_builder_end_object (builder);
    }
  json_builder_end_array (builder);
  json_builder_end_object (builder);
  return builder_to_string (builder);
}

/**
 * kaigi_timeline_event_free:
 * @event: (transfer full) (nullable): an event
 */
void
kaigi_timeline_event_free (KaigiTimelineEvent *event)
{
  if (event == NULL)
    return;

  g_free (event->type);
  g_free (event->participant);
  g_free (event->name);
  g_free (event->text);
  g_free (event);
}

static void
add_speaker_turns (JsonBuilder *builder,
                   GPtrArray   *events,
                   gint64       duration_ms)
{
  const KaigiTimelineEvent *turn = NULL;
  guint i;

  json_builder_set_member_name (builder, "speaker_turns");
  json_builder_begin_array (builder);
  for (i = 0; i <= events->len; i++)
    {
      const KaigiTimelineEvent *event = i < events->len ? g_ptr_array_index (events, i) : NULL;

      if (event && !g_str_equal (event->type, "speaker"))
        continue;
      if (turn && turn->participant)
        {
          json_builder_begin_object (builder);
          add_string (builder, "participant", turn->participant);
          add_nullable_string (builder, "name", turn->name);
          json_builder_set_member_name (builder, "start_ms");
          json_builder_add_int_value (builder, turn->offset_ms);
          json_builder_set_member_name (builder, "end_ms");
          json_builder_add_int_value (builder, event ? event->offset_ms : MAX (duration_ms, turn->offset_ms));
          json_builder_end_object (builder);
        }
      turn = event;
    }
  json_builder_end_array (builder);
}

/**
 * kaigi_protocol_build_timeline:
 * @room: the room recorded
 * @file: the recording's file name
 * @started: when it started
 * @duration_ms: its duration (ms), or -1 while it runs
 * @events: (element-type KaigiTimelineEvent): what happened, in order
 *
 * Builds the JSON sidecar written beside a recording: `version` (1),
 * `room`, `file`, `started`, `duration_ms`, `events` (each with
 * `offset_ms`, `type` and the members that type has) and `speaker_turns`
 * (`participant`, `name`, `start_ms`, `end_ms`), derived from the
 * `speaker` events. Offsets are into the file (ms). Documented in
 * docs/recording.md.
 *
 * Returns: (transfer full): the JSON text, pretty-printed
 */
char *
kaigi_protocol_build_timeline (const char *room,
                               const char *file,
                               GDateTime  *started,
                               gint64      duration_ms,
                               GPtrArray  *events)
{
  g_autoptr(JsonBuilder) builder = json_builder_new_immutable ();
  g_autoptr(JsonGenerator) generator = json_generator_new ();
  g_autoptr(JsonNode) root = NULL;
  g_autofree char *started_text = format_time (started);
  guint i;

  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "version");
  json_builder_add_int_value (builder, 1);
  add_string (builder, "room", room);
  add_string (builder, "file", file);
  add_string (builder, "started", started_text);
  json_builder_set_member_name (builder, "duration_ms");
  if (duration_ms >= 0)
    json_builder_add_int_value (builder, duration_ms);
  else
    json_builder_add_null_value (builder);

  json_builder_set_member_name (builder, "events");
  json_builder_begin_array (builder);
  for (i = 0; i < events->len; i++)
    {
      const KaigiTimelineEvent *event = g_ptr_array_index (events, i);

      json_builder_begin_object (builder);
      json_builder_set_member_name (builder, "offset_ms");
      json_builder_add_int_value (builder, event->offset_ms);
      add_string (builder, "type", event->type);
      add_nullable_string (builder, "participant", event->participant);
      if (event->name)
        add_string (builder, "name", event->name);
      if (event->text)
        add_string (builder, "text", event->text);
      if (g_str_equal (event->type, "media"))
        {
          json_builder_set_member_name (builder, "audio");
          json_builder_add_boolean_value (builder, event->audio);
          json_builder_set_member_name (builder, "video");
          json_builder_add_boolean_value (builder, event->video);
        }
      json_builder_end_object (builder);
    }
  json_builder_end_array (builder);
  add_speaker_turns (builder, events, duration_ms);
  json_builder_end_object (builder);

  root = json_builder_get_root (builder);
  json_generator_set_root (generator, root);
  json_generator_set_pretty (generator, TRUE);
  return json_generator_to_data (generator, NULL);
}

static JsonObject *
parse_object (JsonParser  *parser,
              const char  *text,
              gsize        len,
              GError     **error)
{
  g_autoptr(GError) local_error = NULL;
  JsonNode *root;

  if (!g_utf8_validate_len (text, len, NULL))
    {
      g_set_error_literal (error, KAIGI_PROTOCOL_ERROR, KAIGI_PROTOCOL_ERROR_INVALID_JSON,
                           "not valid UTF-8");
      return NULL;
    }
  if (!kaigi_protocol_check_depth (text, len, KAIGI_PROTOCOL_MAX_DEPTH, error))
    return NULL;
  if (!json_parser_load_from_data (parser, text, len, &local_error))
    {
      g_set_error (error, KAIGI_PROTOCOL_ERROR, KAIGI_PROTOCOL_ERROR_INVALID_JSON,
                   "not JSON: %s", local_error->message);
      return NULL;
    }
  root = json_parser_get_root (parser);
  if (root == NULL || !JSON_NODE_HOLDS_OBJECT (root))
    {
      g_set_error_literal (error, KAIGI_PROTOCOL_ERROR, KAIGI_PROTOCOL_ERROR_INVALID_JSON,
                           "not a JSON object");
      return NULL;
    }
  return json_node_get_object (root);
}

/**
 * kaigi_protocol_parse_timeline_summary:
 * @text: a sidecar's JSON text
 * @len: its length (bytes)
 * @room: (out) (transfer full): the room recorded
 * @duration_ms: (out): the duration (ms), -1 when the sidecar has none
 * @started: (out) (transfer full) (nullable): when it started, ISO 8601
 * @error: return location for a #KAIGI_PROTOCOL_ERROR
 *
 * Reads what `GET /api/recordings` lists from a sidecar written by
 * kaigi_protocol_build_timeline().
 *
 * Returns: %TRUE on success
 */
gboolean
kaigi_protocol_parse_timeline_summary (const char  *text,
                                       gsize        len,
                                       char       **room,
                                       gint64      *duration_ms,
                                       char       **started,
                                       GError     **error)
{
  g_autoptr(JsonParser) parser = json_parser_new_immutable ();
  JsonObject *object = parse_object (parser, text, len, error);
  JsonNode *node;

  if (object == NULL)
    return FALSE;

  node = json_object_get_member (object, "room");
  if (node == NULL || !JSON_NODE_HOLDS_VALUE (node) || json_node_get_value_type (node) != G_TYPE_STRING)
    {
      g_set_error_literal (error, KAIGI_PROTOCOL_ERROR, KAIGI_PROTOCOL_ERROR_MISSING_FIELD,
                           "the sidecar names no room");
      return FALSE;
    }
  *room = json_node_dup_string (node);

  node = json_object_get_member (object, "duration_ms");
  *duration_ms = node && JSON_NODE_HOLDS_VALUE (node) && json_node_get_value_type (node) == G_TYPE_INT64
                 ? json_node_get_int (node) : -1;
  node = json_object_get_member (object, "started");
  *started = node && JSON_NODE_HOLDS_VALUE (node) && json_node_get_value_type (node) == G_TYPE_STRING
             ? json_node_dup_string (node) : NULL;
  return TRUE;
}

/**
 * kaigi_protocol_parse_pin_request:
 * @text: a REST request body, `{"participant": ID | null}`
 * @len: its length (bytes)
 * @participant: (out) (transfer full) (nullable): the id, %NULL to unpin
 * @error: return location for a #KAIGI_PROTOCOL_ERROR
 *
 * Parses the body of `PUT /api/rooms/ROOM/pin`.
 *
 * Returns: %TRUE on success
 */
gboolean
kaigi_protocol_parse_pin_request (const char  *text,
                                  gsize        len,
                                  char       **participant,
                                  GError     **error)
{
  g_autoptr(JsonParser) parser = json_parser_new_immutable ();
  JsonObject *object = parse_object (parser, text, len, error);
  g_autoptr(KaigiMessage) message = g_new0 (KaigiMessage, 1);

  if (object == NULL || !read_field (object, &pin_fields[0], message, error))
    return FALSE;
  *participant = g_steal_pointer (&message->participant);
  return TRUE;
}
