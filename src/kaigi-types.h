/* kaigi-types.h
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct _KaigiConfig           KaigiConfig;
typedef struct _KaigiIceServer        KaigiIceServer;
typedef struct _KaigiMessage          KaigiMessage;
typedef struct _KaigiParticipant      KaigiParticipant;
typedef struct _KaigiParticipantInfo  KaigiParticipantInfo;
typedef struct _KaigiRecordingFile    KaigiRecordingFile;
typedef struct _KaigiRecordingInfo    KaigiRecordingInfo;
typedef struct _KaigiRoom             KaigiRoom;
typedef struct _KaigiRoomInfo         KaigiRoomInfo;
typedef struct _KaigiServer           KaigiServer;
typedef struct _KaigiSignalingPeer    KaigiSignalingPeer;
typedef struct _KaigiTimelineEvent    KaigiTimelineEvent;
typedef struct _KaigiTrackInfo        KaigiTrackInfo;

G_END_DECLS
