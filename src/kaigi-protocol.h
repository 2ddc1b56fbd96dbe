/* kaigi-protocol.h
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#pragma once

#include <glib.h>

#include "kaigi-types.h"
#include "kaigi-error.h"

G_BEGIN_DECLS

/**
 * KAIGI_PROTOCOL_VERSION:
 *
 * The signaling protocol version this server speaks (docs/protocol.md).
 */
#define KAIGI_PROTOCOL_VERSION 1

/**
 * KAIGI_PROTOCOL_MAX_MESSAGE_SIZE:
 *
 * Largest accepted signaling message, in bytes (64 KiB). Larger WebSocket
 * messages close the connection with 1009 (RFC 6455 §7.4.1).
 */
#define KAIGI_PROTOCOL_MAX_MESSAGE_SIZE (64 * 1024)

/**
 * KAIGI_PROTOCOL_MAX_DEPTH:
 *
 * Deepest accepted JSON nesting (objects and arrays), checked before
 * json-glib parses the text (json-glib 1.6 recurses once per level).
 */
#define KAIGI_PROTOCOL_MAX_DEPTH 32

/**
 * KAIGI_PROTOCOL_MAX_CHAT_CHARS:
 *
 * Longest chat message, in Unicode code points.
 */
#define KAIGI_PROTOCOL_MAX_CHAT_CHARS 2000

/**
 * KAIGI_PROTOCOL_MAX_NAME_LIST:
 *
 * The most names a list member (`join`'s `video_codecs`) may hold.
 */
#define KAIGI_PROTOCOL_MAX_NAME_LIST 16

/**
 * KaigiMessageType:
 * @KAIGI_MSG_JOIN: `join`, client → server
 * @KAIGI_MSG_ANSWER: `answer`, client → server
 * @KAIGI_MSG_ICE: `ice`, client → server
 * @KAIGI_MSG_MEDIA: `media`, client → server
 * @KAIGI_MSG_LEAVE: `leave`, client → server
 * @KAIGI_MSG_PING: `ping`, client → server
 * @KAIGI_MSG_CHAT: `chat`, on the `chat` data channel
 * @KAIGI_MSG_N_TYPES: number of types
 *
 * Messages a client can send; see docs/protocol.md.
 */
typedef enum
{
  KAIGI_MSG_JOIN,
  KAIGI_MSG_ANSWER,
  KAIGI_MSG_ICE,
  KAIGI_MSG_MEDIA,
  KAIGI_MSG_LEAVE,
  KAIGI_MSG_PING,
  KAIGI_MSG_CHAT,
  KAIGI_MSG_RECORDING_START,
  KAIGI_MSG_RECORDING_STOP,
  KAIGI_MSG_PIN,
  KAIGI_MSG_N_TYPES
} KaigiMessageType;

/**
 * KaigiChannel:
 * @KAIGI_CHANNEL_SIGNALING: the `/ws` WebSocket
 * @KAIGI_CHANNEL_CHAT: the `chat` WebRTC data channel
 *
 * Where a message arrived; each accepts its own message types.
 */
typedef enum
{
  KAIGI_CHANNEL_SIGNALING,
  KAIGI_CHANNEL_CHAT,
} KaigiChannel;

/**
 * KaigiMessage:
 * @type: the message type
 * @room: `join`: the room name (validated)
 * @name: `join`: the display name (validated)
 * @version: `join`: the protocol version
 * @audio: `join`, `media`: microphone on
 * @video: `join`, `media`: camera on
 * @sdp: `answer`: the SDP text
 * @candidate: `ice`: the candidate line; empty for end-of-candidates
 * @mline_index: `ice`: the m-line index
 * @text: `chat`: the message text
 * @participant: `pin`: the participant to pin, %NULL to unpin
 * @video_codecs: `join`: the RTP encoding names of the video codecs the
 *   client decodes, %NULL when it did not say (then: all)
 *
 * A parsed, validated client message. Strings are owned by the message.
 */
struct _KaigiMessage
{
  KaigiMessageType type;
  char *room;
  char *name;
  gint64 version;
  gboolean audio;
  gboolean video;
  char *sdp;
  char *candidate;
  guint mline_index;
  char *text;
  char *participant;
  GStrv video_codecs;
};

/**
 * KaigiParticipantInfo:
 * @id: server-assigned participant id
 * @name: display name
 * @audio: microphone on
 * @video: camera on
 *
 * A snapshot of a participant, as the protocol and the REST API show it.
 * Plain data; strings are borrowed from the caller for the duration of a
 * build call.
 */
struct _KaigiParticipantInfo
{
  const char *id;
  const char *name;
  gboolean audio;
  gboolean video;
};

/**
 * KaigiTrackInfo:
 * @mid: the m-line's media id
 * @participant_id: the participant the track comes from
 * @kind: "audio" or "video"
 *
 * One forwarded track in an offer (borrowed strings).
 */
struct _KaigiTrackInfo
{
  const char *mid;
  const char *participant_id;
  const char *kind;
};

/**
 * KaigiRoomInfo:
 * @name: room name
 * @participants: (element-type KaigiParticipantInfo): participants
 *
 * A snapshot of a room for the REST API (borrowed data).
 */
struct _KaigiRoomInfo
{
  const char *name;
  GArray *participants;
  const KaigiRecordingInfo *recording;
  const char *speaker;
  const char *pinned;
};

/**
 * KaigiRecordingInfo:
 * @id: the recording's id
 * @file: its file name in the recordings folder (final name, `.mp4`)
 * @started: when it started
 *
 * A running recording (borrowed data).
 */
struct _KaigiRecordingInfo
{
  const char *id;
  const char *file;
  GDateTime *started;
};

/**
 * KaigiRecordingFile:
 * @file: file name in the recordings folder
 * @room: (nullable): the room recorded, from the sidecar
 * @bytes: file size (bytes)
 * @duration_ms: duration (ms), or -1 when unknown
 * @started: (nullable): when the recording started
 * @recovered: %TRUE for a `.mp4.part` left by a crash
 *
 * A recording on disk, for `GET /api/recordings` (borrowed data).
 */
struct _KaigiRecordingFile
{
  const char *file;
  const char *room;
  guint64 bytes;
  gint64 duration_ms;
  GDateTime *started;
  gboolean recovered;
};

/**
 * KaigiTimelineEvent:
 * @offset_ms: when, as an offset into the file (ms)
 * @type: "join", "leave", "media", "speaker", "pin" or "chat"
 * @participant: (nullable): the participant concerned; %NULL for "pin"
 *   when unpinned and "speaker" when nobody holds the floor
 * @name: (nullable): the participant's display name
 * @text: (nullable): "chat": the text
 * @audio: "media": microphone on
 * @video: "media": camera on
 *
 * One entry of a recording's timeline (owned strings).
 */
struct _KaigiTimelineEvent
{
  gint64 offset_ms;
  char *type;
  char *participant;
  char *name;
  char *text;
  gboolean audio;
  gboolean video;
};

/**
 * KaigiIceServer:
 * @urls: (array zero-terminated=1): URLs in RTCIceServer form ("stun:host:port")
 * @username: (nullable): TURN user name
 * @credential: (nullable): TURN password
 *
 * An ICE server as handed to clients (W3C WebRTC RTCIceServer).
 */
struct _KaigiIceServer
{
  char **urls;
  char *username;
  char *credential;
};

void          kaigi_message_free                 (KaigiMessage *message);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (KaigiMessage, kaigi_message_free)

const char   *kaigi_message_type_to_string       (KaigiMessageType type);
const char   *kaigi_protocol_error_code_to_string (int code);

gboolean      kaigi_protocol_check_depth         (const char   *text,
                                                  gsize         len,
                                                  guint         max_depth,
                                                  GError      **error);
KaigiMessage *kaigi_protocol_parse               (KaigiChannel  channel,
                                                  const char   *text,
                                                  gsize         len,
                                                  char        **request_type,
                                                  GError      **error);

char *kaigi_protocol_build_joined              (const char                 *id,
                                                const char                 *room,
                                                const char                 *name,
                                                const KaigiParticipantInfo *others,
                                                guint                       n_others,
                                                GPtrArray                  *ice_servers);
char *kaigi_protocol_build_offer               (const char                 *sdp,
                                                const char                 *publish_audio_mid,
                                                const char                 *publish_video_mid,
                                                const KaigiTrackInfo       *tracks,
                                                guint                       n_tracks);
char *kaigi_protocol_build_ice                 (const char                 *candidate,
                                                guint                       mline_index);
char *kaigi_protocol_build_participant_joined  (const KaigiParticipantInfo *info);
char *kaigi_protocol_build_participant_updated (const KaigiParticipantInfo *info);
char *kaigi_protocol_build_participant_left    (const char                 *id,
                                                const char                 *reason);
char *kaigi_protocol_build_pong                (void);
char *kaigi_protocol_build_server_shutdown     (guint                       grace_s);
char *kaigi_protocol_build_error               (const GError               *error,
                                                const char                 *request_type);
char *kaigi_protocol_build_chat                (const char                 *from_id,
                                                const char                 *from_name,
                                                const char                 *text,
                                                GDateTime                  *time);

char *kaigi_protocol_build_room                (const KaigiRoomInfo        *room);
char *kaigi_protocol_build_rooms               (const KaigiRoomInfo        *rooms,
                                                guint                       n_rooms);
char *kaigi_protocol_build_api_error           (const char                 *message);
char *kaigi_protocol_build_speaker             (const char                 *speaker,
                                                const char                 *pinned);
char *kaigi_protocol_build_recording           (const KaigiRecordingInfo   *recording,
                                                const char                 *error_message);
char *kaigi_protocol_build_recording_object    (const KaigiRecordingInfo   *recording);
char *kaigi_protocol_build_recording_finished  (const char                 *id,
                                                const char                 *file,
                                                gint64                      duration_ms);
char *kaigi_protocol_build_recordings          (const KaigiRecordingFile   *files,
                                                guint                       n_files);
char *kaigi_protocol_build_timeline            (const char                 *room,
                                                const char                 *file,
                                                GDateTime                  *started,
                                                gint64                      duration_ms,
                                                GPtrArray                  *events);
gboolean kaigi_protocol_parse_timeline_summary (const char                 *text,
                                                gsize                       len,
                                                char                      **room,
                                                gint64                     *duration_ms,
                                                char                      **started,
                                                GError                    **error);
gboolean kaigi_protocol_parse_pin_request      (const char                 *text,
                                                gsize                       len,
                                                char                      **participant,
                                                GError                    **error);
void  kaigi_timeline_event_free                (KaigiTimelineEvent         *event);

G_END_DECLS
