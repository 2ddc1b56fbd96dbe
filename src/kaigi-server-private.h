/* kaigi-server-private.h — friend API for the signaling peers
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#pragma once

#include "kaigi-server.h"
#include "kaigi-signaling-peer.h"

G_BEGIN_DECLS

KaigiRoom *kaigi_server_ensure_room           (KaigiServer         *self,
                                               const char          *name,
                                               GError             **error);
void       kaigi_server_release_room_if_empty (KaigiServer         *self,
                                               KaigiRoom           *room);
void       kaigi_server_note_join             (KaigiServer         *self);
GPtrArray *kaigi_server_dup_ice_servers       (KaigiServer         *self);
void       kaigi_server_remove_peer           (KaigiServer         *self,
                                               KaigiSignalingPeer  *peer);

G_END_DECLS
