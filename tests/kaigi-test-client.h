/* kaigi-test-client.h
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * KaigiTestClient: a WebRTC participant for integration tests, on webrtcbin
 * and a libsoup WebSocket, speaking docs/protocol.md like a browser would.
 *
 *   client = kaigi_test_client_new (port, "room", "red", 0xFF0000, TRUE, TRUE);
 *   kaigi_test_client_connect (client);              // WebSocket, then `join`
 *   KAIGI_TEST_WAIT_UNTIL (kaigi_test_client_get_video_frames (client, other_id) > 10, 20000);
 *
 * It answers every server offer (sendonly on the `publish` m-lines, with a
 * solid-colour VP8 video and an Opus sine tone, recvonly elsewhere), trickles
 * ICE both ways, keeps the roster, errors and chat messages it receives, and
 * counts decoded video frames (with the centre pixel's colour) and audio
 * buffers (with their RMS level) per sending participant, using the `tracks`
 * of the latest offer.
 *
 * Threading: use a client only on the thread whose thread-default main
 * context was current at kaigi_test_client_new(); that context must be
 * iterated for anything to happen. The media getters are also safe from
 * other threads. Strings and structs returned are owned by the client.
 */

#pragma once

#include <glib-object.h>

G_BEGIN_DECLS

#define KAIGI_TEST_TYPE_CLIENT (kaigi_test_client_get_type ())

G_DECLARE_FINAL_TYPE (KaigiTestClient, kaigi_test_client, KAIGI_TEST, CLIENT, GObject)

/**
 * KaigiTestParticipant:
 * @id: server-assigned participant id
 * @name: display name
 * @audio: microphone on, as last announced
 * @video: camera on, as last announced
 *
 * One entry of a test client's roster. Owned by the client; valid until the
 * next iteration of the client's main context.
 */
typedef struct
{
  char *id;
  char *name;
  gboolean audio;
  gboolean video;
} KaigiTestParticipant;

/**
 * KaigiTestChat:
 * @from: sender participant id
 * @name: sender display name
 * @text: the message text
 * @time: ISO-8601 UTC time stamp, as sent by the server
 *
 * One chat message received on the `chat` data channel. Owned by the client.
 */
typedef struct
{
  char *from;
  char *name;
  char *text;
  char *time;
} KaigiTestChat;

gboolean               kaigi_test_client_check_plugins       (char                 **missing);
int                    kaigi_test_run                        (void);

KaigiTestClient       *kaigi_test_client_new                 (guint                  port,
                                                              const char            *room,
                                                              const char            *name,
                                                              guint32                rgb,
                                                              gboolean               audio,
                                                              gboolean               video);

void                   kaigi_test_client_set_auto_join       (KaigiTestClient       *self,
                                                              gboolean               auto_join);
void                   kaigi_test_client_set_ping_interval   (KaigiTestClient       *self,
                                                              guint                  interval_ms);
void                   kaigi_test_client_set_tone_volume     (KaigiTestClient       *self,
                                                              double                 volume);
void                   kaigi_test_client_set_hold_offers     (KaigiTestClient       *self,
                                                              gboolean               hold);
void                   kaigi_test_client_set_audio_level_extension (KaigiTestClient *self,
                                                              gboolean               enabled);
void                   kaigi_test_client_set_garbage         (KaigiTestClient       *self,
                                                              gboolean               garbage);
void                   kaigi_test_client_set_claimed_size    (KaigiTestClient       *self,
                                                              int                    width,
                                                              int                    height);
void                   kaigi_test_client_set_video_codec     (KaigiTestClient       *self,
                                                              const char            *encoding);
void                   kaigi_test_client_set_refuse_h264     (KaigiTestClient       *self,
                                                              gboolean               refuse);
void                   kaigi_test_client_set_video_codecs    (KaigiTestClient       *self,
                                                              const char *const     *codecs);
void                   kaigi_test_client_set_flash           (KaigiTestClient       *self,
                                                              guint                  period_ms);
void                   kaigi_test_client_connect             (KaigiTestClient       *self);

/* Signaling */
void                   kaigi_test_client_send_join           (KaigiTestClient       *self);
void                   kaigi_test_client_send_media          (KaigiTestClient       *self,
                                                              gboolean               audio,
                                                              gboolean               video);
void                   kaigi_test_client_send_text           (KaigiTestClient       *self,
                                                              const char            *text);
void                   kaigi_test_client_send_binary         (KaigiTestClient       *self,
                                                              const guint8          *data,
                                                              gsize                  len);
void                   kaigi_test_client_leave               (KaigiTestClient       *self);
char                  *kaigi_test_client_dup_last_message    (KaigiTestClient       *self,
                                                              const char            *type);
guint                  kaigi_test_client_count_messages      (KaigiTestClient       *self,
                                                              const char            *type);
void                   kaigi_test_client_close               (KaigiTestClient       *self);
void                   kaigi_test_client_vanish              (KaigiTestClient       *self);
gboolean               kaigi_test_client_send_chat           (KaigiTestClient       *self,
                                                              const char            *text);

/* State */
const char            *kaigi_test_client_get_name            (KaigiTestClient       *self);
guint32                kaigi_test_client_get_rgb             (KaigiTestClient       *self);
gboolean               kaigi_test_client_publishes_audio     (KaigiTestClient       *self);
gboolean               kaigi_test_client_publishes_video     (KaigiTestClient       *self);
gboolean               kaigi_test_client_is_connected        (KaigiTestClient       *self);
gboolean               kaigi_test_client_is_closed           (KaigiTestClient       *self);
gushort                kaigi_test_client_get_close_code      (KaigiTestClient       *self);
gboolean               kaigi_test_client_is_joined           (KaigiTestClient       *self);
const char            *kaigi_test_client_get_id              (KaigiTestClient       *self);
guint                  kaigi_test_client_get_n_offers        (KaigiTestClient       *self);
guint                  kaigi_test_client_get_n_answers       (KaigiTestClient       *self);
guint                  kaigi_test_client_get_n_pongs         (KaigiTestClient       *self);
const char            *kaigi_test_client_get_failure         (KaigiTestClient       *self);
const char            *kaigi_test_client_get_last_offer      (KaigiTestClient       *self);
const char            *kaigi_test_client_get_last_answer     (KaigiTestClient       *self);
gboolean               kaigi_test_client_is_ice_connected    (KaigiTestClient       *self);
gboolean               kaigi_test_client_has_track_from      (KaigiTestClient       *self,
                                                              const char            *participant_id,
                                                              const char            *kind);
char                  *kaigi_test_client_dup_track_mid       (KaigiTestClient       *self,
                                                              const char            *participant_id,
                                                              const char            *kind);

/* Roster */
guint                  kaigi_test_client_get_n_participants  (KaigiTestClient       *self);
const KaigiTestParticipant *
                       kaigi_test_client_lookup_participant  (KaigiTestClient       *self,
                                                              const char            *id);
const KaigiTestParticipant *
                       kaigi_test_client_find_participant_by_name (KaigiTestClient  *self,
                                                              const char            *name);
guint                  kaigi_test_client_get_n_updates       (KaigiTestClient       *self);
const char            *kaigi_test_client_get_left_reason     (KaigiTestClient       *self,
                                                              const char            *id);

/* Errors */
guint                  kaigi_test_client_get_n_errors        (KaigiTestClient       *self);
const char            *kaigi_test_client_get_error_code      (KaigiTestClient       *self,
                                                              guint                  index);
guint                  kaigi_test_client_count_errors        (KaigiTestClient       *self,
                                                              const char            *code);

/* Chat */
gboolean               kaigi_test_client_is_chat_open        (KaigiTestClient       *self);
guint                  kaigi_test_client_get_n_chats         (KaigiTestClient       *self);
const KaigiTestChat   *kaigi_test_client_get_chat            (KaigiTestClient       *self,
                                                              guint                  index);
guint                  kaigi_test_client_get_n_chat_errors   (KaigiTestClient       *self);

/* Received media, by sending participant (thread-safe) */
guint64                kaigi_test_client_get_video_frames    (KaigiTestClient       *self,
                                                              const char            *participant_id);
gboolean               kaigi_test_client_get_video_colour    (KaigiTestClient       *self,
                                                              const char            *participant_id,
                                                              guint32               *rgb);
guint64                kaigi_test_client_get_audio_buffers   (KaigiTestClient       *self,
                                                              const char            *participant_id);
double                 kaigi_test_client_get_audio_rms_db    (KaigiTestClient       *self,
                                                              const char            *participant_id);
guint64                kaigi_test_client_get_unattributed_buffers (KaigiTestClient  *self);

void                   kaigi_test_client_dump_dot            (KaigiTestClient       *self,
                                                              const char            *tag);

G_END_DECLS
