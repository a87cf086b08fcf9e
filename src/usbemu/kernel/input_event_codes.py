"""Input event codes and the input ABI — counterpart of include/uapi/linux/input-event-codes.h
and include/uapi/linux/input.h.

Every `#define` of the two headers, as Linux 6.12 has them (6.12.y: with KEY_LINK_PHONE),
is a module constant of the same name and value, in the headers' order with their comments
(generated from the headers): EV_* event types, SYN_*, KEY_* and BTN_*, REL_*, ABS_*, MSC_*,
SW_*, LED_*, REP_*, SND_*, INPUT_PROP_*, BUS_*, MT_TOOL_*, FF_*, the *_MAX and *_CNT limits
and EV_VERSION; aliases such as KEY_HANGUEL keep pointing at their target.  Tables built from
them name codes both ways (`CODES`, `TYPE_CODES`, `TYPE_NAMES`, `KEYS`, `KEY_NAMES`,
`code_name`).  The structures of the ABI come with their codecs: `InputEvent` is
struct input_event in the 64-bit layout (24 bytes: tv_sec, tv_usec, type, code, value),
`InputId` struct input_id, `InputAbsinfo` struct input_absinfo; the EVIOC* ioctl numbers
are the headers' macros.  Not here: struct ff_effect and its parts, struct
input_keymap_entry and struct input_mask (force feedback, keymaps and event masks are not
modelled); the numbers of the ioctls that use them are.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final, NamedTuple

from .fs import ior, iow

# -- include/uapi/linux/input-event-codes.h

# Device properties and quirks

INPUT_PROP_POINTER: Final = 0x00  # needs a pointer
INPUT_PROP_DIRECT: Final = 0x01  # direct input devices
INPUT_PROP_BUTTONPAD: Final = 0x02  # has button(s) under pad
INPUT_PROP_SEMI_MT: Final = 0x03  # touch rectangle only
INPUT_PROP_TOPBUTTONPAD: Final = 0x04  # softbuttons at top of pad
INPUT_PROP_POINTING_STICK: Final = 0x05  # is a pointing stick
INPUT_PROP_ACCELEROMETER: Final = 0x06  # has accelerometer

INPUT_PROP_MAX: Final = 0x1f
INPUT_PROP_CNT: Final = INPUT_PROP_MAX + 1

# Event types

EV_SYN: Final = 0x00
EV_KEY: Final = 0x01
EV_REL: Final = 0x02
EV_ABS: Final = 0x03
EV_MSC: Final = 0x04
EV_SW: Final = 0x05
EV_LED: Final = 0x11
EV_SND: Final = 0x12
EV_REP: Final = 0x14
EV_FF: Final = 0x15
EV_PWR: Final = 0x16
EV_FF_STATUS: Final = 0x17
EV_MAX: Final = 0x1f
EV_CNT: Final = EV_MAX + 1

# Synchronization events.

SYN_REPORT: Final = 0
SYN_CONFIG: Final = 1
SYN_MT_REPORT: Final = 2
SYN_DROPPED: Final = 3
SYN_MAX: Final = 0xf
SYN_CNT: Final = SYN_MAX + 1

# Keys and buttons
#
# Most of the keys/buttons are modeled after USB HUT 1.12
# (see http://www.usb.org/developers/hidpage).
# Abbreviations in the comments:
# AC - Application Control
# AL - Application Launch Button
# SC - System Control

KEY_RESERVED: Final = 0
KEY_ESC: Final = 1
KEY_1: Final = 2
KEY_2: Final = 3
KEY_3: Final = 4
KEY_4: Final = 5
KEY_5: Final = 6
KEY_6: Final = 7
KEY_7: Final = 8
KEY_8: Final = 9
KEY_9: Final = 10
KEY_0: Final = 11
KEY_MINUS: Final = 12
KEY_EQUAL: Final = 13
KEY_BACKSPACE: Final = 14
KEY_TAB: Final = 15
KEY_Q: Final = 16
KEY_W: Final = 17
KEY_E: Final = 18
KEY_R: Final = 19
KEY_T: Final = 20
KEY_Y: Final = 21
KEY_U: Final = 22
KEY_I: Final = 23
KEY_O: Final = 24
KEY_P: Final = 25
KEY_LEFTBRACE: Final = 26
KEY_RIGHTBRACE: Final = 27
KEY_ENTER: Final = 28
KEY_LEFTCTRL: Final = 29
KEY_A: Final = 30
KEY_S: Final = 31
KEY_D: Final = 32
KEY_F: Final = 33
KEY_G: Final = 34
KEY_H: Final = 35
KEY_J: Final = 36
KEY_K: Final = 37
KEY_L: Final = 38
KEY_SEMICOLON: Final = 39
KEY_APOSTROPHE: Final = 40
KEY_GRAVE: Final = 41
KEY_LEFTSHIFT: Final = 42
KEY_BACKSLASH: Final = 43
KEY_Z: Final = 44
KEY_X: Final = 45
KEY_C: Final = 46
KEY_V: Final = 47
KEY_B: Final = 48
KEY_N: Final = 49
KEY_M: Final = 50
KEY_COMMA: Final = 51
KEY_DOT: Final = 52
KEY_SLASH: Final = 53
KEY_RIGHTSHIFT: Final = 54
KEY_KPASTERISK: Final = 55
KEY_LEFTALT: Final = 56
KEY_SPACE: Final = 57
KEY_CAPSLOCK: Final = 58
KEY_F1: Final = 59
KEY_F2: Final = 60
KEY_F3: Final = 61
KEY_F4: Final = 62
KEY_F5: Final = 63
KEY_F6: Final = 64
KEY_F7: Final = 65
KEY_F8: Final = 66
KEY_F9: Final = 67
KEY_F10: Final = 68
KEY_NUMLOCK: Final = 69
KEY_SCROLLLOCK: Final = 70
KEY_KP7: Final = 71
KEY_KP8: Final = 72
KEY_KP9: Final = 73
KEY_KPMINUS: Final = 74
KEY_KP4: Final = 75
KEY_KP5: Final = 76
KEY_KP6: Final = 77
KEY_KPPLUS: Final = 78
KEY_KP1: Final = 79
KEY_KP2: Final = 80
KEY_KP3: Final = 81
KEY_KP0: Final = 82
KEY_KPDOT: Final = 83

KEY_ZENKAKUHANKAKU: Final = 85
KEY_102ND: Final = 86
KEY_F11: Final = 87
KEY_F12: Final = 88
KEY_RO: Final = 89
KEY_KATAKANA: Final = 90
KEY_HIRAGANA: Final = 91
KEY_HENKAN: Final = 92
KEY_KATAKANAHIRAGANA: Final = 93
KEY_MUHENKAN: Final = 94
KEY_KPJPCOMMA: Final = 95
KEY_KPENTER: Final = 96
KEY_RIGHTCTRL: Final = 97
KEY_KPSLASH: Final = 98
KEY_SYSRQ: Final = 99
KEY_RIGHTALT: Final = 100
KEY_LINEFEED: Final = 101
KEY_HOME: Final = 102
KEY_UP: Final = 103
KEY_PAGEUP: Final = 104
KEY_LEFT: Final = 105
KEY_RIGHT: Final = 106
KEY_END: Final = 107
KEY_DOWN: Final = 108
KEY_PAGEDOWN: Final = 109
KEY_INSERT: Final = 110
KEY_DELETE: Final = 111
KEY_MACRO: Final = 112
KEY_MUTE: Final = 113
KEY_VOLUMEDOWN: Final = 114
KEY_VOLUMEUP: Final = 115
KEY_POWER: Final = 116  # SC System Power Down
KEY_KPEQUAL: Final = 117
KEY_KPPLUSMINUS: Final = 118
KEY_PAUSE: Final = 119
KEY_SCALE: Final = 120  # AL Compiz Scale (Expose)

KEY_KPCOMMA: Final = 121
KEY_HANGEUL: Final = 122
KEY_HANGUEL: Final = KEY_HANGEUL
KEY_HANJA: Final = 123
KEY_YEN: Final = 124
KEY_LEFTMETA: Final = 125
KEY_RIGHTMETA: Final = 126
KEY_COMPOSE: Final = 127

KEY_STOP: Final = 128  # AC Stop
KEY_AGAIN: Final = 129
KEY_PROPS: Final = 130  # AC Properties
KEY_UNDO: Final = 131  # AC Undo
KEY_FRONT: Final = 132
KEY_COPY: Final = 133  # AC Copy
KEY_OPEN: Final = 134  # AC Open
KEY_PASTE: Final = 135  # AC Paste
KEY_FIND: Final = 136  # AC Search
KEY_CUT: Final = 137  # AC Cut
KEY_HELP: Final = 138  # AL Integrated Help Center
KEY_MENU: Final = 139  # Menu (show menu)
KEY_CALC: Final = 140  # AL Calculator
KEY_SETUP: Final = 141
KEY_SLEEP: Final = 142  # SC System Sleep
KEY_WAKEUP: Final = 143  # System Wake Up
KEY_FILE: Final = 144  # AL Local Machine Browser
KEY_SENDFILE: Final = 145
KEY_DELETEFILE: Final = 146
KEY_XFER: Final = 147
KEY_PROG1: Final = 148
KEY_PROG2: Final = 149
KEY_WWW: Final = 150  # AL Internet Browser
KEY_MSDOS: Final = 151
KEY_COFFEE: Final = 152  # AL Terminal Lock/Screensaver
KEY_SCREENLOCK: Final = KEY_COFFEE
KEY_ROTATE_DISPLAY: Final = 153  # Display orientation for e.g. tablets
KEY_DIRECTION: Final = KEY_ROTATE_DISPLAY
KEY_CYCLEWINDOWS: Final = 154
KEY_MAIL: Final = 155
KEY_BOOKMARKS: Final = 156  # AC Bookmarks
KEY_COMPUTER: Final = 157
KEY_BACK: Final = 158  # AC Back
KEY_FORWARD: Final = 159  # AC Forward
KEY_CLOSECD: Final = 160
KEY_EJECTCD: Final = 161
KEY_EJECTCLOSECD: Final = 162
KEY_NEXTSONG: Final = 163
KEY_PLAYPAUSE: Final = 164
KEY_PREVIOUSSONG: Final = 165
KEY_STOPCD: Final = 166
KEY_RECORD: Final = 167
KEY_REWIND: Final = 168
KEY_PHONE: Final = 169  # Media Select Telephone
KEY_ISO: Final = 170
KEY_CONFIG: Final = 171  # AL Consumer Control Configuration
KEY_HOMEPAGE: Final = 172  # AC Home
KEY_REFRESH: Final = 173  # AC Refresh
KEY_EXIT: Final = 174  # AC Exit
KEY_MOVE: Final = 175
KEY_EDIT: Final = 176
KEY_SCROLLUP: Final = 177
KEY_SCROLLDOWN: Final = 178
KEY_KPLEFTPAREN: Final = 179
KEY_KPRIGHTPAREN: Final = 180
KEY_NEW: Final = 181  # AC New
KEY_REDO: Final = 182  # AC Redo/Repeat

KEY_F13: Final = 183
KEY_F14: Final = 184
KEY_F15: Final = 185
KEY_F16: Final = 186
KEY_F17: Final = 187
KEY_F18: Final = 188
KEY_F19: Final = 189
KEY_F20: Final = 190
KEY_F21: Final = 191
KEY_F22: Final = 192
KEY_F23: Final = 193
KEY_F24: Final = 194

KEY_PLAYCD: Final = 200
KEY_PAUSECD: Final = 201
KEY_PROG3: Final = 202
KEY_PROG4: Final = 203
KEY_ALL_APPLICATIONS: Final = 204  # AC Desktop Show All Applications
KEY_DASHBOARD: Final = KEY_ALL_APPLICATIONS
KEY_SUSPEND: Final = 205
KEY_CLOSE: Final = 206  # AC Close
KEY_PLAY: Final = 207
KEY_FASTFORWARD: Final = 208
KEY_BASSBOOST: Final = 209
KEY_PRINT: Final = 210  # AC Print
KEY_HP: Final = 211
KEY_CAMERA: Final = 212
KEY_SOUND: Final = 213
KEY_QUESTION: Final = 214
KEY_EMAIL: Final = 215
KEY_CHAT: Final = 216
KEY_SEARCH: Final = 217
KEY_CONNECT: Final = 218
KEY_FINANCE: Final = 219  # AL Checkbook/Finance
KEY_SPORT: Final = 220
KEY_SHOP: Final = 221
KEY_ALTERASE: Final = 222
KEY_CANCEL: Final = 223  # AC Cancel
KEY_BRIGHTNESSDOWN: Final = 224
KEY_BRIGHTNESSUP: Final = 225
KEY_MEDIA: Final = 226

KEY_SWITCHVIDEOMODE: Final = 227  # Cycle between available video outputs (Monitor/LCD/TV-out/etc)
KEY_KBDILLUMTOGGLE: Final = 228
KEY_KBDILLUMDOWN: Final = 229
KEY_KBDILLUMUP: Final = 230

KEY_SEND: Final = 231  # AC Send
KEY_REPLY: Final = 232  # AC Reply
KEY_FORWARDMAIL: Final = 233  # AC Forward Msg
KEY_SAVE: Final = 234  # AC Save
KEY_DOCUMENTS: Final = 235

KEY_BATTERY: Final = 236

KEY_BLUETOOTH: Final = 237
KEY_WLAN: Final = 238
KEY_UWB: Final = 239

KEY_UNKNOWN: Final = 240

KEY_VIDEO_NEXT: Final = 241  # drive next video source
KEY_VIDEO_PREV: Final = 242  # drive previous video source
KEY_BRIGHTNESS_CYCLE: Final = 243  # brightness up, after max is min
# Set Auto Brightness: manual brightness control is off, rely on ambient
KEY_BRIGHTNESS_AUTO: Final = 244
KEY_BRIGHTNESS_ZERO: Final = KEY_BRIGHTNESS_AUTO
KEY_DISPLAY_OFF: Final = 245  # display device to off state

KEY_WWAN: Final = 246  # Wireless WAN (LTE, UMTS, GSM, etc.)
KEY_WIMAX: Final = KEY_WWAN
KEY_RFKILL: Final = 247  # Key that controls all radios

KEY_MICMUTE: Final = 248  # Mute / unmute the microphone

# Code 255 is reserved for special needs of AT keyboard driver

BTN_MISC: Final = 0x100
BTN_0: Final = 0x100
BTN_1: Final = 0x101
BTN_2: Final = 0x102
BTN_3: Final = 0x103
BTN_4: Final = 0x104
BTN_5: Final = 0x105
BTN_6: Final = 0x106
BTN_7: Final = 0x107
BTN_8: Final = 0x108
BTN_9: Final = 0x109

BTN_MOUSE: Final = 0x110
BTN_LEFT: Final = 0x110
BTN_RIGHT: Final = 0x111
BTN_MIDDLE: Final = 0x112
BTN_SIDE: Final = 0x113
BTN_EXTRA: Final = 0x114
BTN_FORWARD: Final = 0x115
BTN_BACK: Final = 0x116
BTN_TASK: Final = 0x117

BTN_JOYSTICK: Final = 0x120
BTN_TRIGGER: Final = 0x120
BTN_THUMB: Final = 0x121
BTN_THUMB2: Final = 0x122
BTN_TOP: Final = 0x123
BTN_TOP2: Final = 0x124
BTN_PINKIE: Final = 0x125
BTN_BASE: Final = 0x126
BTN_BASE2: Final = 0x127
BTN_BASE3: Final = 0x128
BTN_BASE4: Final = 0x129
BTN_BASE5: Final = 0x12a
BTN_BASE6: Final = 0x12b
BTN_DEAD: Final = 0x12f

BTN_GAMEPAD: Final = 0x130
BTN_SOUTH: Final = 0x130
BTN_A: Final = BTN_SOUTH
BTN_EAST: Final = 0x131
BTN_B: Final = BTN_EAST
BTN_C: Final = 0x132
BTN_NORTH: Final = 0x133
BTN_X: Final = BTN_NORTH
BTN_WEST: Final = 0x134
BTN_Y: Final = BTN_WEST
BTN_Z: Final = 0x135
BTN_TL: Final = 0x136
BTN_TR: Final = 0x137
BTN_TL2: Final = 0x138
BTN_TR2: Final = 0x139
BTN_SELECT: Final = 0x13a
BTN_START: Final = 0x13b
BTN_MODE: Final = 0x13c
BTN_THUMBL: Final = 0x13d
BTN_THUMBR: Final = 0x13e

BTN_DIGI: Final = 0x140
BTN_TOOL_PEN: Final = 0x140
BTN_TOOL_RUBBER: Final = 0x141
BTN_TOOL_BRUSH: Final = 0x142
BTN_TOOL_PENCIL: Final = 0x143
BTN_TOOL_AIRBRUSH: Final = 0x144
BTN_TOOL_FINGER: Final = 0x145
BTN_TOOL_MOUSE: Final = 0x146
BTN_TOOL_LENS: Final = 0x147
BTN_TOOL_QUINTTAP: Final = 0x148  # Five fingers on trackpad
BTN_STYLUS3: Final = 0x149
BTN_TOUCH: Final = 0x14a
BTN_STYLUS: Final = 0x14b
BTN_STYLUS2: Final = 0x14c
BTN_TOOL_DOUBLETAP: Final = 0x14d
BTN_TOOL_TRIPLETAP: Final = 0x14e
BTN_TOOL_QUADTAP: Final = 0x14f  # Four fingers on trackpad

BTN_WHEEL: Final = 0x150
BTN_GEAR_DOWN: Final = 0x150
BTN_GEAR_UP: Final = 0x151

KEY_OK: Final = 0x160
KEY_SELECT: Final = 0x161
KEY_GOTO: Final = 0x162
KEY_CLEAR: Final = 0x163
KEY_POWER2: Final = 0x164
KEY_OPTION: Final = 0x165
KEY_INFO: Final = 0x166  # AL OEM Features/Tips/Tutorial
KEY_TIME: Final = 0x167
KEY_VENDOR: Final = 0x168
KEY_ARCHIVE: Final = 0x169
KEY_PROGRAM: Final = 0x16a  # Media Select Program Guide
KEY_CHANNEL: Final = 0x16b
KEY_FAVORITES: Final = 0x16c
KEY_EPG: Final = 0x16d
KEY_PVR: Final = 0x16e  # Media Select Home
KEY_MHP: Final = 0x16f
KEY_LANGUAGE: Final = 0x170
KEY_TITLE: Final = 0x171
KEY_SUBTITLE: Final = 0x172
KEY_ANGLE: Final = 0x173
KEY_FULL_SCREEN: Final = 0x174  # AC View Toggle
KEY_ZOOM: Final = KEY_FULL_SCREEN
KEY_MODE: Final = 0x175
KEY_KEYBOARD: Final = 0x176
KEY_ASPECT_RATIO: Final = 0x177  # HUTRR37: Aspect
KEY_SCREEN: Final = KEY_ASPECT_RATIO
KEY_PC: Final = 0x178  # Media Select Computer
KEY_TV: Final = 0x179  # Media Select TV
KEY_TV2: Final = 0x17a  # Media Select Cable
KEY_VCR: Final = 0x17b  # Media Select VCR
KEY_VCR2: Final = 0x17c  # VCR Plus
KEY_SAT: Final = 0x17d  # Media Select Satellite
KEY_SAT2: Final = 0x17e
KEY_CD: Final = 0x17f  # Media Select CD
KEY_TAPE: Final = 0x180  # Media Select Tape
KEY_RADIO: Final = 0x181
KEY_TUNER: Final = 0x182  # Media Select Tuner
KEY_PLAYER: Final = 0x183
KEY_TEXT: Final = 0x184
KEY_DVD: Final = 0x185  # Media Select DVD
KEY_AUX: Final = 0x186
KEY_MP3: Final = 0x187
KEY_AUDIO: Final = 0x188  # AL Audio Browser
KEY_VIDEO: Final = 0x189  # AL Movie Browser
KEY_DIRECTORY: Final = 0x18a
KEY_LIST: Final = 0x18b
KEY_MEMO: Final = 0x18c  # Media Select Messages
KEY_CALENDAR: Final = 0x18d
KEY_RED: Final = 0x18e
KEY_GREEN: Final = 0x18f
KEY_YELLOW: Final = 0x190
KEY_BLUE: Final = 0x191
KEY_CHANNELUP: Final = 0x192  # Channel Increment
KEY_CHANNELDOWN: Final = 0x193  # Channel Decrement
KEY_FIRST: Final = 0x194
KEY_LAST: Final = 0x195  # Recall Last
KEY_AB: Final = 0x196
KEY_NEXT: Final = 0x197
KEY_RESTART: Final = 0x198
KEY_SLOW: Final = 0x199
KEY_SHUFFLE: Final = 0x19a
KEY_BREAK: Final = 0x19b
KEY_PREVIOUS: Final = 0x19c
KEY_DIGITS: Final = 0x19d
KEY_TEEN: Final = 0x19e
KEY_TWEN: Final = 0x19f
KEY_VIDEOPHONE: Final = 0x1a0  # Media Select Video Phone
KEY_GAMES: Final = 0x1a1  # Media Select Games
KEY_ZOOMIN: Final = 0x1a2  # AC Zoom In
KEY_ZOOMOUT: Final = 0x1a3  # AC Zoom Out
KEY_ZOOMRESET: Final = 0x1a4  # AC Zoom
KEY_WORDPROCESSOR: Final = 0x1a5  # AL Word Processor
KEY_EDITOR: Final = 0x1a6  # AL Text Editor
KEY_SPREADSHEET: Final = 0x1a7  # AL Spreadsheet
KEY_GRAPHICSEDITOR: Final = 0x1a8  # AL Graphics Editor
KEY_PRESENTATION: Final = 0x1a9  # AL Presentation App
KEY_DATABASE: Final = 0x1aa  # AL Database App
KEY_NEWS: Final = 0x1ab  # AL Newsreader
KEY_VOICEMAIL: Final = 0x1ac  # AL Voicemail
KEY_ADDRESSBOOK: Final = 0x1ad  # AL Contacts/Address Book
KEY_MESSENGER: Final = 0x1ae  # AL Instant Messaging
KEY_DISPLAYTOGGLE: Final = 0x1af  # Turn display (LCD) on and off
KEY_BRIGHTNESS_TOGGLE: Final = KEY_DISPLAYTOGGLE
KEY_SPELLCHECK: Final = 0x1b0  # AL Spell Check
KEY_LOGOFF: Final = 0x1b1  # AL Logoff

KEY_DOLLAR: Final = 0x1b2
KEY_EURO: Final = 0x1b3

KEY_FRAMEBACK: Final = 0x1b4  # Consumer - transport controls
KEY_FRAMEFORWARD: Final = 0x1b5
KEY_CONTEXT_MENU: Final = 0x1b6  # GenDesc - system context menu
KEY_MEDIA_REPEAT: Final = 0x1b7  # Consumer - transport control
KEY_10CHANNELSUP: Final = 0x1b8  # 10 channels up (10+)
KEY_10CHANNELSDOWN: Final = 0x1b9  # 10 channels down (10-)
KEY_IMAGES: Final = 0x1ba  # AL Image Browser
KEY_NOTIFICATION_CENTER: Final = 0x1bc  # Show/hide the notification center
KEY_PICKUP_PHONE: Final = 0x1bd  # Answer incoming call
KEY_HANGUP_PHONE: Final = 0x1be  # Decline incoming call
KEY_LINK_PHONE: Final = 0x1bf  # AL Phone Syncing

KEY_DEL_EOL: Final = 0x1c0
KEY_DEL_EOS: Final = 0x1c1
KEY_INS_LINE: Final = 0x1c2
KEY_DEL_LINE: Final = 0x1c3

KEY_FN: Final = 0x1d0
KEY_FN_ESC: Final = 0x1d1
KEY_FN_F1: Final = 0x1d2
KEY_FN_F2: Final = 0x1d3
KEY_FN_F3: Final = 0x1d4
KEY_FN_F4: Final = 0x1d5
KEY_FN_F5: Final = 0x1d6
KEY_FN_F6: Final = 0x1d7
KEY_FN_F7: Final = 0x1d8
KEY_FN_F8: Final = 0x1d9
KEY_FN_F9: Final = 0x1da
KEY_FN_F10: Final = 0x1db
KEY_FN_F11: Final = 0x1dc
KEY_FN_F12: Final = 0x1dd
KEY_FN_1: Final = 0x1de
KEY_FN_2: Final = 0x1df
KEY_FN_D: Final = 0x1e0
KEY_FN_E: Final = 0x1e1
KEY_FN_F: Final = 0x1e2
KEY_FN_S: Final = 0x1e3
KEY_FN_B: Final = 0x1e4
KEY_FN_RIGHT_SHIFT: Final = 0x1e5

KEY_BRL_DOT1: Final = 0x1f1
KEY_BRL_DOT2: Final = 0x1f2
KEY_BRL_DOT3: Final = 0x1f3
KEY_BRL_DOT4: Final = 0x1f4
KEY_BRL_DOT5: Final = 0x1f5
KEY_BRL_DOT6: Final = 0x1f6
KEY_BRL_DOT7: Final = 0x1f7
KEY_BRL_DOT8: Final = 0x1f8
KEY_BRL_DOT9: Final = 0x1f9
KEY_BRL_DOT10: Final = 0x1fa

KEY_NUMERIC_0: Final = 0x200  # used by phones, remote controls,
KEY_NUMERIC_1: Final = 0x201  # and other keypads
KEY_NUMERIC_2: Final = 0x202
KEY_NUMERIC_3: Final = 0x203
KEY_NUMERIC_4: Final = 0x204
KEY_NUMERIC_5: Final = 0x205
KEY_NUMERIC_6: Final = 0x206
KEY_NUMERIC_7: Final = 0x207
KEY_NUMERIC_8: Final = 0x208
KEY_NUMERIC_9: Final = 0x209
KEY_NUMERIC_STAR: Final = 0x20a
KEY_NUMERIC_POUND: Final = 0x20b
KEY_NUMERIC_A: Final = 0x20c  # Phone key A - HUT Telephony 0xb9
KEY_NUMERIC_B: Final = 0x20d
KEY_NUMERIC_C: Final = 0x20e
KEY_NUMERIC_D: Final = 0x20f

KEY_CAMERA_FOCUS: Final = 0x210
KEY_WPS_BUTTON: Final = 0x211  # WiFi Protected Setup key

KEY_TOUCHPAD_TOGGLE: Final = 0x212  # Request switch touchpad on or off
KEY_TOUCHPAD_ON: Final = 0x213
KEY_TOUCHPAD_OFF: Final = 0x214

KEY_CAMERA_ZOOMIN: Final = 0x215
KEY_CAMERA_ZOOMOUT: Final = 0x216
KEY_CAMERA_UP: Final = 0x217
KEY_CAMERA_DOWN: Final = 0x218
KEY_CAMERA_LEFT: Final = 0x219
KEY_CAMERA_RIGHT: Final = 0x21a

KEY_ATTENDANT_ON: Final = 0x21b
KEY_ATTENDANT_OFF: Final = 0x21c
KEY_ATTENDANT_TOGGLE: Final = 0x21d  # Attendant call on or off
KEY_LIGHTS_TOGGLE: Final = 0x21e  # Reading light on or off

BTN_DPAD_UP: Final = 0x220
BTN_DPAD_DOWN: Final = 0x221
BTN_DPAD_LEFT: Final = 0x222
BTN_DPAD_RIGHT: Final = 0x223

KEY_ALS_TOGGLE: Final = 0x230  # Ambient light sensor
KEY_ROTATE_LOCK_TOGGLE: Final = 0x231  # Display rotation lock
KEY_REFRESH_RATE_TOGGLE: Final = 0x232  # Display refresh rate toggle

KEY_BUTTONCONFIG: Final = 0x240  # AL Button Configuration
KEY_TASKMANAGER: Final = 0x241  # AL Task/Project Manager
KEY_JOURNAL: Final = 0x242  # AL Log/Journal/Timecard
KEY_CONTROLPANEL: Final = 0x243  # AL Control Panel
KEY_APPSELECT: Final = 0x244  # AL Select Task/Application
KEY_SCREENSAVER: Final = 0x245  # AL Screen Saver
KEY_VOICECOMMAND: Final = 0x246  # Listening Voice Command
KEY_ASSISTANT: Final = 0x247  # AL Context-aware desktop assistant
KEY_KBD_LAYOUT_NEXT: Final = 0x248  # AC Next Keyboard Layout Select
KEY_EMOJI_PICKER: Final = 0x249  # Show/hide emoji picker (HUTRR101)
KEY_DICTATE: Final = 0x24a  # Start or Stop Voice Dictation Session (HUTRR99)
KEY_CAMERA_ACCESS_ENABLE: Final = 0x24b  # Enables programmatic access to camera devices. (HUTRR72)
# Disables programmatic access to camera devices. (HUTRR72)
KEY_CAMERA_ACCESS_DISABLE: Final = 0x24c
# Toggles the current state of the camera access control. (HUTRR72)
KEY_CAMERA_ACCESS_TOGGLE: Final = 0x24d
KEY_ACCESSIBILITY: Final = 0x24e  # Toggles the system bound accessibility UI/command (HUTRR116)
KEY_DO_NOT_DISTURB: Final = 0x24f  # Toggles the system-wide "Do Not Disturb" control (HUTRR94)

KEY_BRIGHTNESS_MIN: Final = 0x250  # Set Brightness to Minimum
KEY_BRIGHTNESS_MAX: Final = 0x251  # Set Brightness to Maximum

KEY_KBDINPUTASSIST_PREV: Final = 0x260
KEY_KBDINPUTASSIST_NEXT: Final = 0x261
KEY_KBDINPUTASSIST_PREVGROUP: Final = 0x262
KEY_KBDINPUTASSIST_NEXTGROUP: Final = 0x263
KEY_KBDINPUTASSIST_ACCEPT: Final = 0x264
KEY_KBDINPUTASSIST_CANCEL: Final = 0x265

# Diagonal movement keys
KEY_RIGHT_UP: Final = 0x266
KEY_RIGHT_DOWN: Final = 0x267
KEY_LEFT_UP: Final = 0x268
KEY_LEFT_DOWN: Final = 0x269

KEY_ROOT_MENU: Final = 0x26a  # Show Device's Root Menu

# Show Top Menu of the Media (e.g. DVD)
KEY_MEDIA_TOP_MENU: Final = 0x26b
KEY_NUMERIC_11: Final = 0x26c
KEY_NUMERIC_12: Final = 0x26d

# Toggle Audio Description: refers to an audio service that helps blind and
# visually impaired consumers understand the action in a program. Note: in
# some countries this is referred to as "Video Description".
KEY_AUDIO_DESC: Final = 0x26e
KEY_3D_MODE: Final = 0x26f
KEY_NEXT_FAVORITE: Final = 0x270
KEY_STOP_RECORD: Final = 0x271
KEY_PAUSE_RECORD: Final = 0x272
KEY_VOD: Final = 0x273  # Video on Demand
KEY_UNMUTE: Final = 0x274
KEY_FASTREVERSE: Final = 0x275
KEY_SLOWREVERSE: Final = 0x276

# Control a data application associated with the currently viewed channel,
# e.g. teletext or data broadcast application (MHEG, MHP, HbbTV, etc.)
KEY_DATA: Final = 0x277
KEY_ONSCREEN_KEYBOARD: Final = 0x278

# Electronic privacy screen control
KEY_PRIVACY_SCREEN_TOGGLE: Final = 0x279

# Select an area of screen to be copied
KEY_SELECTIVE_SCREENSHOT: Final = 0x27a

# Move the focus to the next or previous user controllable element within a UI container
KEY_NEXT_ELEMENT: Final = 0x27b
KEY_PREVIOUS_ELEMENT: Final = 0x27c

# Toggle Autopilot engagement
KEY_AUTOPILOT_ENGAGE_TOGGLE: Final = 0x27d

# Shortcut Keys
KEY_MARK_WAYPOINT: Final = 0x27e
KEY_SOS: Final = 0x27f
KEY_NAV_CHART: Final = 0x280
KEY_FISHING_CHART: Final = 0x281
KEY_SINGLE_RANGE_RADAR: Final = 0x282
KEY_DUAL_RANGE_RADAR: Final = 0x283
KEY_RADAR_OVERLAY: Final = 0x284
KEY_TRADITIONAL_SONAR: Final = 0x285
KEY_CLEARVU_SONAR: Final = 0x286
KEY_SIDEVU_SONAR: Final = 0x287
KEY_NAV_INFO: Final = 0x288
KEY_BRIGHTNESS_MENU: Final = 0x289

# Some keyboards have keys which do not have a defined meaning, these keys
# are intended to be programmed / bound to macros by the user. For most
# keyboards with these macro-keys the key-sequence to inject, or action to
# take, is all handled by software on the host side. So from the kernel's
# point of view these are just normal keys.
#
# The KEY_MACRO# codes below are intended for such keys, which may be labeled
# e.g. G1-G18, or S1 - S30. The KEY_MACRO# codes MUST NOT be used for keys
# where the marking on the key does indicate a defined meaning / purpose.
#
# The KEY_MACRO# codes MUST also NOT be used as fallback for when no existing
# KEY_FOO define matches the marking / purpose. In this case a new KEY_FOO
# define MUST be added.
KEY_MACRO1: Final = 0x290
KEY_MACRO2: Final = 0x291
KEY_MACRO3: Final = 0x292
KEY_MACRO4: Final = 0x293
KEY_MACRO5: Final = 0x294
KEY_MACRO6: Final = 0x295
KEY_MACRO7: Final = 0x296
KEY_MACRO8: Final = 0x297
KEY_MACRO9: Final = 0x298
KEY_MACRO10: Final = 0x299
KEY_MACRO11: Final = 0x29a
KEY_MACRO12: Final = 0x29b
KEY_MACRO13: Final = 0x29c
KEY_MACRO14: Final = 0x29d
KEY_MACRO15: Final = 0x29e
KEY_MACRO16: Final = 0x29f
KEY_MACRO17: Final = 0x2a0
KEY_MACRO18: Final = 0x2a1
KEY_MACRO19: Final = 0x2a2
KEY_MACRO20: Final = 0x2a3
KEY_MACRO21: Final = 0x2a4
KEY_MACRO22: Final = 0x2a5
KEY_MACRO23: Final = 0x2a6
KEY_MACRO24: Final = 0x2a7
KEY_MACRO25: Final = 0x2a8
KEY_MACRO26: Final = 0x2a9
KEY_MACRO27: Final = 0x2aa
KEY_MACRO28: Final = 0x2ab
KEY_MACRO29: Final = 0x2ac
KEY_MACRO30: Final = 0x2ad

# Some keyboards with the macro-keys described above have some extra keys
# for controlling the host-side software responsible for the macro handling:
# -A macro recording start/stop key. Note that not all keyboards which emit
# KEY_MACRO_RECORD_START will also emit KEY_MACRO_RECORD_STOP if
# KEY_MACRO_RECORD_STOP is not advertised, then KEY_MACRO_RECORD_START
# should be interpreted as a recording start/stop toggle;
# -Keys for switching between different macro (pre)sets, either a key for
# cycling through the configured presets or keys to directly select a preset.
KEY_MACRO_RECORD_START: Final = 0x2b0
KEY_MACRO_RECORD_STOP: Final = 0x2b1
KEY_MACRO_PRESET_CYCLE: Final = 0x2b2
KEY_MACRO_PRESET1: Final = 0x2b3
KEY_MACRO_PRESET2: Final = 0x2b4
KEY_MACRO_PRESET3: Final = 0x2b5

# Some keyboards have a buildin LCD panel where the contents are controlled
# by the host. Often these have a number of keys directly below the LCD
# intended for controlling a menu shown on the LCD. These keys often don't
# have any labeling so we just name them KEY_KBD_LCD_MENU#
KEY_KBD_LCD_MENU1: Final = 0x2b8
KEY_KBD_LCD_MENU2: Final = 0x2b9
KEY_KBD_LCD_MENU3: Final = 0x2ba
KEY_KBD_LCD_MENU4: Final = 0x2bb
KEY_KBD_LCD_MENU5: Final = 0x2bc

BTN_TRIGGER_HAPPY: Final = 0x2c0
BTN_TRIGGER_HAPPY1: Final = 0x2c0
BTN_TRIGGER_HAPPY2: Final = 0x2c1
BTN_TRIGGER_HAPPY3: Final = 0x2c2
BTN_TRIGGER_HAPPY4: Final = 0x2c3
BTN_TRIGGER_HAPPY5: Final = 0x2c4
BTN_TRIGGER_HAPPY6: Final = 0x2c5
BTN_TRIGGER_HAPPY7: Final = 0x2c6
BTN_TRIGGER_HAPPY8: Final = 0x2c7
BTN_TRIGGER_HAPPY9: Final = 0x2c8
BTN_TRIGGER_HAPPY10: Final = 0x2c9
BTN_TRIGGER_HAPPY11: Final = 0x2ca
BTN_TRIGGER_HAPPY12: Final = 0x2cb
BTN_TRIGGER_HAPPY13: Final = 0x2cc
BTN_TRIGGER_HAPPY14: Final = 0x2cd
BTN_TRIGGER_HAPPY15: Final = 0x2ce
BTN_TRIGGER_HAPPY16: Final = 0x2cf
BTN_TRIGGER_HAPPY17: Final = 0x2d0
BTN_TRIGGER_HAPPY18: Final = 0x2d1
BTN_TRIGGER_HAPPY19: Final = 0x2d2
BTN_TRIGGER_HAPPY20: Final = 0x2d3
BTN_TRIGGER_HAPPY21: Final = 0x2d4
BTN_TRIGGER_HAPPY22: Final = 0x2d5
BTN_TRIGGER_HAPPY23: Final = 0x2d6
BTN_TRIGGER_HAPPY24: Final = 0x2d7
BTN_TRIGGER_HAPPY25: Final = 0x2d8
BTN_TRIGGER_HAPPY26: Final = 0x2d9
BTN_TRIGGER_HAPPY27: Final = 0x2da
BTN_TRIGGER_HAPPY28: Final = 0x2db
BTN_TRIGGER_HAPPY29: Final = 0x2dc
BTN_TRIGGER_HAPPY30: Final = 0x2dd
BTN_TRIGGER_HAPPY31: Final = 0x2de
BTN_TRIGGER_HAPPY32: Final = 0x2df
BTN_TRIGGER_HAPPY33: Final = 0x2e0
BTN_TRIGGER_HAPPY34: Final = 0x2e1
BTN_TRIGGER_HAPPY35: Final = 0x2e2
BTN_TRIGGER_HAPPY36: Final = 0x2e3
BTN_TRIGGER_HAPPY37: Final = 0x2e4
BTN_TRIGGER_HAPPY38: Final = 0x2e5
BTN_TRIGGER_HAPPY39: Final = 0x2e6
BTN_TRIGGER_HAPPY40: Final = 0x2e7

# We avoid low common keys in module aliases so they don't get huge.
KEY_MIN_INTERESTING: Final = KEY_MUTE
KEY_MAX: Final = 0x2ff
KEY_CNT: Final = KEY_MAX + 1

# Relative axes

REL_X: Final = 0x00
REL_Y: Final = 0x01
REL_Z: Final = 0x02
REL_RX: Final = 0x03
REL_RY: Final = 0x04
REL_RZ: Final = 0x05
REL_HWHEEL: Final = 0x06
REL_DIAL: Final = 0x07
REL_WHEEL: Final = 0x08
REL_MISC: Final = 0x09

# 0x0a is reserved and should not be used in input drivers.
# It was used by HID as REL_MISC+1 and userspace needs to detect if
# the next REL_* event is correct or is just REL_MISC + n.
# We define here REL_RESERVED so userspace can rely on it and detect
# the situation described above.
REL_RESERVED: Final = 0x0a
REL_WHEEL_HI_RES: Final = 0x0b
REL_HWHEEL_HI_RES: Final = 0x0c
REL_MAX: Final = 0x0f
REL_CNT: Final = REL_MAX + 1

# Absolute axes

ABS_X: Final = 0x00
ABS_Y: Final = 0x01
ABS_Z: Final = 0x02
ABS_RX: Final = 0x03
ABS_RY: Final = 0x04
ABS_RZ: Final = 0x05
ABS_THROTTLE: Final = 0x06
ABS_RUDDER: Final = 0x07
ABS_WHEEL: Final = 0x08
ABS_GAS: Final = 0x09
ABS_BRAKE: Final = 0x0a
ABS_HAT0X: Final = 0x10
ABS_HAT0Y: Final = 0x11
ABS_HAT1X: Final = 0x12
ABS_HAT1Y: Final = 0x13
ABS_HAT2X: Final = 0x14
ABS_HAT2Y: Final = 0x15
ABS_HAT3X: Final = 0x16
ABS_HAT3Y: Final = 0x17
ABS_PRESSURE: Final = 0x18
ABS_DISTANCE: Final = 0x19
ABS_TILT_X: Final = 0x1a
ABS_TILT_Y: Final = 0x1b
ABS_TOOL_WIDTH: Final = 0x1c

ABS_VOLUME: Final = 0x20
ABS_PROFILE: Final = 0x21

ABS_MISC: Final = 0x28

# 0x2e is reserved and should not be used in input drivers.
# It was used by HID as ABS_MISC+6 and userspace needs to detect if
# the next ABS_* event is correct or is just ABS_MISC + n.
# We define here ABS_RESERVED so userspace can rely on it and detect
# the situation described above.
ABS_RESERVED: Final = 0x2e

ABS_MT_SLOT: Final = 0x2f  # MT slot being modified
ABS_MT_TOUCH_MAJOR: Final = 0x30  # Major axis of touching ellipse
ABS_MT_TOUCH_MINOR: Final = 0x31  # Minor axis (omit if circular)
ABS_MT_WIDTH_MAJOR: Final = 0x32  # Major axis of approaching ellipse
ABS_MT_WIDTH_MINOR: Final = 0x33  # Minor axis (omit if circular)
ABS_MT_ORIENTATION: Final = 0x34  # Ellipse orientation
ABS_MT_POSITION_X: Final = 0x35  # Center X touch position
ABS_MT_POSITION_Y: Final = 0x36  # Center Y touch position
ABS_MT_TOOL_TYPE: Final = 0x37  # Type of touching device
ABS_MT_BLOB_ID: Final = 0x38  # Group a set of packets as a blob
ABS_MT_TRACKING_ID: Final = 0x39  # Unique ID of initiated contact
ABS_MT_PRESSURE: Final = 0x3a  # Pressure on contact area
ABS_MT_DISTANCE: Final = 0x3b  # Contact hover distance
ABS_MT_TOOL_X: Final = 0x3c  # Center X tool position
ABS_MT_TOOL_Y: Final = 0x3d  # Center Y tool position

ABS_MAX: Final = 0x3f
ABS_CNT: Final = ABS_MAX + 1

# Switch events

SW_LID: Final = 0x00  # set = lid shut
SW_TABLET_MODE: Final = 0x01  # set = tablet mode
SW_HEADPHONE_INSERT: Final = 0x02  # set = inserted
SW_RFKILL_ALL: Final = 0x03  # rfkill master switch, type "any" set = radio enabled
SW_RADIO: Final = SW_RFKILL_ALL  # deprecated
SW_MICROPHONE_INSERT: Final = 0x04  # set = inserted
SW_DOCK: Final = 0x05  # set = plugged into dock
SW_LINEOUT_INSERT: Final = 0x06  # set = inserted
SW_JACK_PHYSICAL_INSERT: Final = 0x07  # set = mechanical switch set
SW_VIDEOOUT_INSERT: Final = 0x08  # set = inserted
SW_CAMERA_LENS_COVER: Final = 0x09  # set = lens covered
SW_KEYPAD_SLIDE: Final = 0x0a  # set = keypad slide out
SW_FRONT_PROXIMITY: Final = 0x0b  # set = front proximity sensor active
SW_ROTATE_LOCK: Final = 0x0c  # set = rotate locked/disabled
SW_LINEIN_INSERT: Final = 0x0d  # set = inserted
SW_MUTE_DEVICE: Final = 0x0e  # set = device disabled
SW_PEN_INSERTED: Final = 0x0f  # set = pen inserted
SW_MACHINE_COVER: Final = 0x10  # set = cover closed
SW_MAX: Final = 0x10
SW_CNT: Final = SW_MAX + 1

# Misc events

MSC_SERIAL: Final = 0x00
MSC_PULSELED: Final = 0x01
MSC_GESTURE: Final = 0x02
MSC_RAW: Final = 0x03
MSC_SCAN: Final = 0x04
MSC_TIMESTAMP: Final = 0x05
MSC_MAX: Final = 0x07
MSC_CNT: Final = MSC_MAX + 1

# LEDs

LED_NUML: Final = 0x00
LED_CAPSL: Final = 0x01
LED_SCROLLL: Final = 0x02
LED_COMPOSE: Final = 0x03
LED_KANA: Final = 0x04
LED_SLEEP: Final = 0x05
LED_SUSPEND: Final = 0x06
LED_MUTE: Final = 0x07
LED_MISC: Final = 0x08
LED_MAIL: Final = 0x09
LED_CHARGING: Final = 0x0a
LED_MAX: Final = 0x0f
LED_CNT: Final = LED_MAX + 1

# Autorepeat values

REP_DELAY: Final = 0x00
REP_PERIOD: Final = 0x01
REP_MAX: Final = 0x01
REP_CNT: Final = REP_MAX + 1

# Sounds

SND_CLICK: Final = 0x00
SND_BELL: Final = 0x01
SND_TONE: Final = 0x02
SND_MAX: Final = 0x07
SND_CNT: Final = SND_MAX + 1

# -- include/uapi/linux/input.h

# Protocol version.

EV_VERSION: Final = 0x010001

INPUT_KEYMAP_BY_INDEX: Final = 1 << 0

# IDs.

ID_BUS: Final = 0
ID_VENDOR: Final = 1
ID_PRODUCT: Final = 2
ID_VERSION: Final = 3

BUS_PCI: Final = 0x01
BUS_ISAPNP: Final = 0x02
BUS_USB: Final = 0x03
BUS_HIL: Final = 0x04
BUS_BLUETOOTH: Final = 0x05
BUS_VIRTUAL: Final = 0x06

BUS_ISA: Final = 0x10
BUS_I8042: Final = 0x11
BUS_XTKBD: Final = 0x12
BUS_RS232: Final = 0x13
BUS_GAMEPORT: Final = 0x14
BUS_PARPORT: Final = 0x15
BUS_AMIGA: Final = 0x16
BUS_ADB: Final = 0x17
BUS_I2C: Final = 0x18
BUS_HOST: Final = 0x19
BUS_GSC: Final = 0x1a
BUS_ATARI: Final = 0x1b
BUS_SPI: Final = 0x1c
BUS_RMI: Final = 0x1d
BUS_CEC: Final = 0x1e
BUS_INTEL_ISHTP: Final = 0x1f
BUS_AMD_SFH: Final = 0x20

# MT_TOOL types
MT_TOOL_FINGER: Final = 0x00
MT_TOOL_PEN: Final = 0x01
MT_TOOL_PALM: Final = 0x02
MT_TOOL_DIAL: Final = 0x0a
MT_TOOL_MAX: Final = 0x0f

# Values describing the status of a force-feedback effect
FF_STATUS_STOPPED: Final = 0x00
FF_STATUS_PLAYING: Final = 0x01
FF_STATUS_MAX: Final = 0x01

# Force feedback effect types

FF_RUMBLE: Final = 0x50
FF_PERIODIC: Final = 0x51
FF_CONSTANT: Final = 0x52
FF_SPRING: Final = 0x53
FF_FRICTION: Final = 0x54
FF_DAMPER: Final = 0x55
FF_INERTIA: Final = 0x56
FF_RAMP: Final = 0x57

FF_EFFECT_MIN: Final = FF_RUMBLE
FF_EFFECT_MAX: Final = FF_RAMP

# Force feedback periodic effect types

FF_SQUARE: Final = 0x58
FF_TRIANGLE: Final = 0x59
FF_SINE: Final = 0x5a
FF_SAW_UP: Final = 0x5b
FF_SAW_DOWN: Final = 0x5c
FF_CUSTOM: Final = 0x5d

FF_WAVEFORM_MIN: Final = FF_SQUARE
FF_WAVEFORM_MAX: Final = FF_CUSTOM

# Set ff device properties

FF_GAIN: Final = 0x60
FF_AUTOCENTER: Final = 0x61

FF_MAX_EFFECTS: Final = FF_GAIN

FF_MAX: Final = 0x7f
FF_CNT: Final = FF_MAX + 1

# -- tables ------------------------------------------------------------------------------------

#: The names the headers define as another name (KEY_HANGUEL is KEY_HANGEUL, BTN_A is
#: BTN_SOUTH): each is a name of its code, never the name printed for it.
ALIASES: Final = frozenset({
    "KEY_HANGUEL", "KEY_SCREENLOCK", "KEY_DIRECTION", "KEY_DASHBOARD", "KEY_BRIGHTNESS_ZERO",
    "KEY_WIMAX", "BTN_A", "BTN_B", "BTN_X", "BTN_Y", "KEY_ZOOM", "KEY_SCREEN",
    "KEY_BRIGHTNESS_TOGGLE", "KEY_MIN_INTERESTING", "SW_RADIO", "FF_EFFECT_MIN",
    "FF_EFFECT_MAX", "FF_WAVEFORM_MIN", "FF_WAVEFORM_MAX", "FF_MAX_EFFECTS",
})


def _defines(*prefixes: str, skip: tuple[str, ...] = ()) -> dict[str, int]:
    """The constants above whose names start with one of `prefixes`, in definition order,
    without the *_MAX and *_CNT limits and the names in `skip`."""
    return {name: value for name, value in globals().items()
            if name.startswith(prefixes) and isinstance(value, int)
            and not name.endswith(("_MAX", "_CNT")) and name not in skip}


def _names(codes: Mapping[str, int]) -> dict[int, str]:
    """Code → name: the last name the header gives a code that is not an alias (BTN_LEFT,
    not BTN_MOUSE; BTN_SOUTH, not BTN_A)."""
    return {value: name for name, value in codes.items() if name not in ALIASES}


#: Name → code of the codes of each event type, in the header's order, aliases included.
TYPE_CODES: Final[Mapping[int, Mapping[str, int]]] = {
    EV_SYN: _defines("SYN_"),
    EV_KEY: _defines("KEY_", "BTN_", skip=("KEY_MIN_INTERESTING",)),
    EV_REL: _defines("REL_"),
    EV_ABS: _defines("ABS_"),
    EV_MSC: _defines("MSC_"),
    EV_SW: _defines("SW_"),
    EV_LED: _defines("LED_"),
    EV_SND: _defines("SND_"),
    EV_REP: _defines("REP_"),
    EV_FF: _defines("FF_", skip=("FF_STATUS_STOPPED", "FF_STATUS_PLAYING", "FF_EFFECT_MIN",
                                 "FF_WAVEFORM_MIN", "FF_MAX_EFFECTS")),
    EV_FF_STATUS: _defines("FF_STATUS_"),
}
#: Code → name of the codes of each event type (see `_names`).
TYPE_NAMES: Final[Mapping[int, Mapping[int, str]]] = {
    type_: _names(codes) for type_, codes in TYPE_CODES.items()}

#: Event type name → number (EV_SYN … EV_FF_STATUS), and number → name.
EVENT_TYPES: Final[Mapping[str, int]] = _defines("EV_", skip=("EV_VERSION",))
EVENT_TYPE_NAMES: Final[Mapping[int, str]] = _names(EVENT_TYPES)
#: KEY_* and BTN_* name → code (KEY_A: 30, KEY_102ND: 86 …), and code → name.
KEYS: Final = TYPE_CODES[EV_KEY]
KEY_NAMES: Final = TYPE_NAMES[EV_KEY]
#: INPUT_PROP_* name → number, and number → name.
PROPS: Final[Mapping[str, int]] = _defines("INPUT_PROP_")
PROP_NAMES: Final[Mapping[int, str]] = _names(PROPS)
#: BUS_* name → number, and number → name.
BUSES: Final[Mapping[str, int]] = _defines("BUS_")
BUS_NAMES: Final[Mapping[int, str]] = _names(BUSES)
#: Every name the two headers define for a code, a type, a property, a bus, a limit or a
#: version → its value.
CODES: Final[Mapping[str, int]] = {
    name: value for name, value in globals().items() if isinstance(value, int)
    and name.isupper() and not name.startswith("_")}


def type_name(type: int) -> str | None:
    """The name of event type `type` ("EV_KEY"), or None.  Context: atomic."""
    return EVENT_TYPE_NAMES.get(type)


def code_name(type: int, code: int) -> str | None:
    """The name of `code` of event type `type` ("BTN_LEFT" for EV_KEY 0x110), or None for
    a code the header does not name.  Context: atomic."""
    names = TYPE_NAMES.get(type)
    return None if names is None else names.get(code)


# -- struct input_event, struct input_id, struct input_absinfo ---------------------------------

#: struct input_event on 64-bit Linux: struct timeval (tv_sec, tv_usec: 8 bytes each), __u16
#: type, __u16 code, __s32 value.
INPUT_EVENT: Final = struct.Struct("<qqHHi")
#: sizeof(struct input_event): what one evdev read returns per event.
INPUT_EVENT_SIZE: Final = INPUT_EVENT.size

_EVTEST_SYN: Final[Mapping[int, tuple[str, str]]] = {
    SYN_MT_REPORT: ("++++++++++++++", "++++++++++++"),
    SYN_DROPPED: (">>>>>>>>>>>>>>", "<<<<<<<<<<<<"),
}


class InputEvent(NamedTuple):
    """struct input_event: the time (`sec`, `usec`) and type, code and value of one event.
    `str()` is the line evtest prints for it ("Event: time 1.010000, type 2 (EV_REL), code 0
    (REL_X), value 10", "Event: time 1.010000, -------------- SYN_REPORT ------------")."""

    sec: int
    usec: int
    type: int
    code: int
    value: int

    @property
    def time(self) -> float:
        """The timestamp in seconds."""
        return self.sec + self.usec / 1_000_000

    def pack(self) -> bytes:
        """The 24 bytes of the event as read(2) returns them.  Raises struct.error for a
        field out of its C type's range."""
        return INPUT_EVENT.pack(*self)

    @classmethod
    def unpack(cls, data: bytes | bytearray | memoryview, offset: int = 0) -> InputEvent:
        """The event at `offset` of `data`.  Raises struct.error when fewer than 24 bytes
        are there."""
        return cls(*INPUT_EVENT.unpack_from(data, offset))

    def __str__(self) -> str:
        head = f"Event: time {self.sec}.{self.usec:06d}, "
        name = code_name(self.type, self.code) or "?"
        if self.type == EV_SYN:
            left, right = _EVTEST_SYN.get(self.code, ("--------------", "------------"))
            return f"{head}{left} {name} {right}"
        if self.type == EV_MSC and self.code in (MSC_RAW, MSC_SCAN):
            value = f"{self.value & 0xFFFFFFFF:02x}"
        else:
            value = str(self.value)
        return (f"{head}type {self.type} ({type_name(self.type) or '?'}), code {self.code} "
                f"({name}), value {value}")


def decode_events(data: bytes | bytearray | memoryview) -> list[InputEvent]:
    """The events in `data`, whole 24-byte records as an evdev read returns them.  Raises
    ValueError when the length is not a multiple of 24."""
    view = memoryview(data).cast("B")
    if len(view) % INPUT_EVENT_SIZE:
        raise ValueError(f"{len(view)} bytes are not whole input events "
                         f"({INPUT_EVENT_SIZE} bytes each)")
    return [InputEvent(*fields) for fields in INPUT_EVENT.iter_unpack(view)]


_INPUT_ID: Final = struct.Struct("<4H")
_INPUT_ABSINFO: Final = struct.Struct("<6i")


@dataclass(slots=True)
class InputId:
    """struct input_id: bus type (BUS_*), vendor, product and version of an input device."""

    bustype: int = 0
    vendor: int = 0
    product: int = 0
    version: int = 0

    SIZE = _INPUT_ID.size

    def pack(self) -> bytes:
        """The 8 bytes of EVIOCGID.  Raises struct.error for a field beyond 16 bits."""
        return _INPUT_ID.pack(self.bustype, self.vendor, self.product, self.version)

    @classmethod
    def unpack(cls, data: bytes | bytearray | memoryview) -> InputId:
        """Raises struct.error for fewer than 8 bytes."""
        return cls(*_INPUT_ID.unpack_from(data))


@dataclass(slots=True)
class InputAbsinfo:
    """struct input_absinfo: the value and limits of an absolute axis (6 × __s32)."""

    value: int = 0
    minimum: int = 0
    maximum: int = 0
    fuzz: int = 0
    flat: int = 0
    resolution: int = 0

    SIZE = _INPUT_ABSINFO.size

    def pack(self) -> bytes:
        """The 24 bytes of EVIOCGABS.  Raises struct.error for a field beyond 32 bits."""
        return _INPUT_ABSINFO.pack(self.value, self.minimum, self.maximum, self.fuzz,
                                   self.flat, self.resolution)

    @classmethod
    def unpack(cls, data: bytes | bytearray | memoryview) -> InputAbsinfo:
        """Raises struct.error for fewer than 24 bytes."""
        return cls(*_INPUT_ABSINFO.unpack_from(data))


# -- ioctls (include/uapi/linux/input.h) -------------------------------------------------------

EVIOCGVERSION: Final = ior("E", 0x01, 4)  # get driver version
EVIOCGID: Final = ior("E", 0x02, _INPUT_ID.size)  # get device ID
EVIOCGREP: Final = ior("E", 0x03, 8)  # get repeat settings
EVIOCSREP: Final = iow("E", 0x03, 8)  # set repeat settings
EVIOCGKEYCODE: Final = ior("E", 0x04, 8)  # get keycode
EVIOCGKEYCODE_V2: Final = ior("E", 0x04, 40)
EVIOCSKEYCODE: Final = iow("E", 0x04, 8)  # set keycode
EVIOCSKEYCODE_V2: Final = iow("E", 0x04, 40)


def EVIOCGNAME(length: int) -> int:
    """get device name."""
    return ior("E", 0x06, length)


def EVIOCGPHYS(length: int) -> int:
    """get physical location."""
    return ior("E", 0x07, length)


def EVIOCGUNIQ(length: int) -> int:
    """get unique identifier."""
    return ior("E", 0x08, length)


def EVIOCGPROP(length: int) -> int:
    """get device properties."""
    return ior("E", 0x09, length)


def EVIOCGMTSLOTS(length: int) -> int:
    """get multi-touch slot values."""
    return ior("E", 0x0A, length)


def EVIOCGKEY(length: int) -> int:
    """get global key state."""
    return ior("E", 0x18, length)


def EVIOCGLED(length: int) -> int:
    """get all LEDs."""
    return ior("E", 0x19, length)


def EVIOCGSND(length: int) -> int:
    """get all sounds status."""
    return ior("E", 0x1A, length)


def EVIOCGSW(length: int) -> int:
    """get all switch states."""
    return ior("E", 0x1B, length)


def EVIOCGBIT(ev: int, length: int) -> int:
    """get event bits (ev 0: the event types)."""
    return ior("E", 0x20 + ev, length)


def EVIOCGABS(abs: int) -> int:
    """get abs value/limits."""
    return ior("E", 0x40 + abs, _INPUT_ABSINFO.size)


def EVIOCSABS(abs: int) -> int:
    """set abs value/limits."""
    return iow("E", 0xC0 + abs, _INPUT_ABSINFO.size)


EVIOCSFF: Final = iow("E", 0x80, 48)  # send a force effect to a force feedback device
EVIOCRMFF: Final = iow("E", 0x81, 4)  # Erase a force effect
EVIOCGEFFECTS: Final = ior("E", 0x84, 4)  # Report number of effects playable at the same time
EVIOCGRAB: Final = iow("E", 0x90, 4)  # Grab/Release device
EVIOCREVOKE: Final = iow("E", 0x91, 4)  # Revoke device access
EVIOCGMASK: Final = ior("E", 0x92, 16)  # Get event-masks
EVIOCSMASK: Final = iow("E", 0x93, 16)  # Set event-masks
EVIOCSCLOCKID: Final = iow("E", 0xA0, 4)  # Set clockid to be used for timestamps
