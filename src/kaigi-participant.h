/* kaigi-participant.h
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#pragma once

#include <gst/gst.h>

#include "kaigi-types.h"
#include "kaigi-media.h"
#include "kaigi-protocol.h"

G_BEGIN_DECLS

#define KAIGI_TYPE_PARTICIPANT (kaigi_participant_get_type ())

G_DECLARE_FINAL_TYPE (KaigiParticipant, kaigi_participant, KAIGI, PARTICIPANT, GObject)

/**
 * KaigiParticipantStats:
 * @bytes_in: RTP payload bytes received from the participant
 * @packets_in: RTP packets received from the participant
 * @bytes_out: RTP payload bytes sent to the participant
 * @packets_out: RTP packets sent to the participant
 *
 * Counters from webrtcbin's `get-stats` (W3C webrtc-stats inbound-rtp and
 * outbound-rtp).
 */
typedef struct
{
  guint64 bytes_in;
  guint64 packets_in;
  guint64 bytes_out;
  guint64 packets_out;
} KaigiParticipantStats;

KaigiParticipant *kaigi_participant_new            (GstBin             *pipeline,
                                                    const char         *id,
                                                    const char         *name,
                                                    gboolean            audio,
                                                    gboolean            video,
                                                    const KaigiConfig  *config,
                                                    GError            **error);
const char       *kaigi_participant_get_id         (KaigiParticipant   *self);
const char       *kaigi_participant_get_name       (KaigiParticipant   *self);
void              kaigi_participant_get_info       (KaigiParticipant   *self,
                                                    KaigiParticipantInfo *info);
void              kaigi_participant_set_media      (KaigiParticipant   *self,
                                                    gboolean            audio,
                                                    gboolean            video);
void              kaigi_participant_send           (KaigiParticipant   *self,
                                                    const char         *json);
void              kaigi_participant_send_chat      (KaigiParticipant   *self,
                                                    const char         *json);
void              kaigi_participant_start          (KaigiParticipant   *self);
gboolean          kaigi_participant_handle_answer  (KaigiParticipant   *self,
                                                    const char         *sdp,
                                                    GError            **error);
gboolean          kaigi_participant_add_ice_candidate (KaigiParticipant *self,
                                                    guint               mline_index,
                                                    const char         *candidate,
                                                    GError            **error);
gboolean          kaigi_participant_take_audio_level (KaigiParticipant *self,
                                                    guint              *level);
GstElement       *kaigi_participant_get_track_tee  (KaigiParticipant   *self,
                                                    KaigiTrackKind      kind);
const GstCaps    *kaigi_participant_get_track_caps (KaigiParticipant   *self,
                                                    KaigiTrackKind      kind);
void              kaigi_participant_set_video_codecs (KaigiParticipant *self,
                                                    const char *const *codecs);
gboolean          kaigi_participant_subscribe      (KaigiParticipant   *self,
                                                    KaigiParticipant   *publisher,
                                                    KaigiTrackKind      kind,
                                                    GError            **error);
void              kaigi_participant_unsubscribe    (KaigiParticipant   *self,
                                                    const char         *publisher_id);
guint             kaigi_participant_get_n_forwarded (KaigiParticipant  *self);
gboolean          kaigi_participant_get_stats      (KaigiParticipant   *self,
                                                    KaigiParticipantStats *stats);
void              kaigi_participant_shutdown       (KaigiParticipant   *self,
                                                    GCallback           done,
                                                    gpointer            user_data);
gboolean          kaigi_participant_owns_element   (KaigiParticipant   *self,
                                                    GstObject          *object);

G_END_DECLS
