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

G_END_DECLS
