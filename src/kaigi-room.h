/* kaigi-room.h
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#pragma once

#include <gst/gst.h>

#include "kaigi-types.h"
#include "kaigi-participant.h"

G_BEGIN_DECLS

#define KAIGI_TYPE_ROOM (kaigi_room_get_type ())

G_DECLARE_FINAL_TYPE (KaigiRoom, kaigi_room, KAIGI, ROOM, GObject)

/**
 * KaigiRoomRecordingStopped:
 * @room: the room
 * @file: the recording's file name (in the recordings folder)
 * @duration_ms: its duration (ms)
 * @error: (nullable): why it ended early, or %NULL
 * @user_data: the data given to kaigi_room_stop_recording()
 *
 * Called on the main context once a stopped recording's file is final.
 */
typedef void (*KaigiRoomRecordingStopped) (KaigiRoom    *room,
                                           const char   *file,
                                           gint64        duration_ms,
                                           const GError *error,
                                           gpointer      user_data);

KaigiRoom        *kaigi_room_new                 (const char            *name,
                                                  const KaigiConfig     *config,
                                                  GError               **error);
const char       *kaigi_room_get_name            (KaigiRoom             *self);
guint             kaigi_room_get_n_participants  (KaigiRoom             *self);
gboolean          kaigi_room_is_empty            (KaigiRoom             *self);
KaigiParticipant *kaigi_room_join                (KaigiRoom             *self,
                                                  const char            *name,
                                                  gboolean               audio,
                                                  gboolean               video,
                                                  const char *const     *video_codecs,
                                                  GError               **error);
GArray           *kaigi_room_dup_participant_infos (KaigiRoom           *self,
                                                  KaigiParticipant      *except);
void              kaigi_room_leave               (KaigiRoom             *self,
                                                  KaigiParticipant      *participant,
                                                  const char            *reason);
void              kaigi_room_update_media        (KaigiRoom             *self,
                                                  KaigiParticipant      *participant,
                                                  gboolean               audio,
                                                  gboolean               video);
guint             kaigi_room_get_n_forwarded     (KaigiRoom             *self);
void              kaigi_room_add_stats           (KaigiRoom             *self,
                                                  KaigiParticipantStats *stats);
void              kaigi_room_close               (KaigiRoom             *self);
KaigiParticipant *kaigi_room_find_participant    (KaigiRoom             *self,
                                                  const char            *id);
const char       *kaigi_room_get_speaker         (KaigiRoom             *self,
                                                  const char           **pinned);
gboolean          kaigi_room_pin                 (KaigiRoom             *self,
                                                  const char            *id,
                                                  GError               **error);
gboolean          kaigi_room_get_recording       (KaigiRoom             *self,
                                                  KaigiRecordingInfo    *info);
gboolean          kaigi_room_start_recording     (KaigiRoom             *self,
                                                  KaigiRecordingInfo    *info,
                                                  GError               **error);
gboolean          kaigi_room_stop_recording      (KaigiRoom             *self,
                                                  KaigiRoomRecordingStopped callback,
                                                  gpointer               user_data,
                                                  GError               **error);
gboolean          kaigi_room_is_writing          (KaigiRoom             *self,
                                                  const char            *file);
guint             kaigi_room_get_n_recordings    (KaigiRoom             *self);
void              kaigi_room_send_state          (KaigiRoom             *self,
                                                  KaigiParticipant      *participant);
gboolean          kaigi_room_get_recording_queue_levels (KaigiRoom      *self,
                                                  guint64               *video_ns,
                                                  guint64               *audio_ns);

G_END_DECLS
