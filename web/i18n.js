// The client's languages: English and Korean. Every string the client shows is a key of the
// catalogs below, looked up with t(key, params); docs/WEB_CLIENT.md says how to add one.
//
// The language is the one chosen in the interface (kept in localStorage), else the first of
// the browser's languages that is English or Korean, else English. Dates and times follow
// it too (Intl, in the browser's own time zone).
//
// Markup holds keys in data attributes, so that a change of language re-translates what is
// on screen without a reload: data-i18n="key" for the text, data-i18n-attrs="aria-label=key;
// placeholder=key" for attributes, data-i18n-params='{"name":"민수"}' for their parameters.

export const LANGUAGES = ['en', 'ko'];
const LANG_KEY = 'rewind.lang';

// A value is a string with {name} parameters, or, when a parameter `count` decides the
// form, an object of Intl.PluralRules categories ("one", "other", ...).
const CATALOGS = {
  en: {
    'lang.label': 'Language',
    'brand.tagline': 'Chat with your friends, live.',
    'noscript': 'The REWIND web client needs JavaScript.',

    'login.title': 'Log in',
    'login.email': 'Email',
    'login.password': 'Password',
    'login.submit': 'Log in',
    'login.noAccount': 'No account yet?',
    'login.toSignup': 'Sign up',
    'login.missing': 'Enter your email and password.',
    'login.forgot': 'Forgot password?',
    'forgot.title': 'Reset your password',
    'forgot.text': 'Enter the email of your account: we will mail it a link to choose a new password.',
    'forgot.email': 'Email',
    'forgot.submit': 'Mail me a link',
    'forgot.missing': 'Enter your email.',
    'forgot.done': 'If {email} has an account, a link to choose a new password is on its way. It works once, and not for long.',
    'forgot.toLogin': 'Back to log in',
    'reset.title': 'Choose a new password',
    'reset.password': 'New password',
    'reset.submit': 'Set the new password',
    'reset.askAgain': 'Ask for a new link',
    'reset.linkInvalid': 'This link no longer works: it was used, a newer one replaced it, or it expired. Ask for a new one.',
    'notice.passwordReset': 'Your password was changed and every session was logged out. Log in with your new password.',
    'nav.account': 'Account',
    'account.title': 'Account',
    'account.changePassword': 'Change password',
    'account.current': 'Current password',
    'account.new': 'New password',
    'account.newHint': '8 to 128 characters. Your other devices will be logged out.',
    'account.submit': 'Change password',
    'account.missing': 'Enter your current password and a new one.',
    'account.wrongCurrent': 'The current password is incorrect.',
    'account.done': 'Your password was changed. Your other devices were logged out.',
    'account.deleteTitle': 'Delete account',
    'account.deleteText': 'Your friendships, friend requests and guild memberships end and every device is logged out. Your messages stay, shown as from a deleted user. This cannot be undone.',
    'account.deletePassword': 'Password',
    'account.deleteConfirm': 'I understand that my account is deleted for good.',
    'account.deleteSubmit': 'Delete my account',
    'account.deleteMissing': 'Enter your password.',
    'account.deleteUnconfirmed': 'Tick the box to confirm.',
    'account.deleteWrong': 'The password is incorrect.',
    'notice.accountDeleted': 'Your account was deleted.',
    'user.deleted': 'Deleted user',
    'sessions.title': 'Sessions',
    'sessions.hint': 'Where your account is logged in. Log out a device you no longer use or do not recognize.',
    'sessions.thisDevice': 'This device',
    'sessions.unknownClient': 'Unknown device',
    'sessions.times': 'Logged in {created} · last seen {lastSeen}',
    'sessions.revoke': 'Log out',
    'sessions.revokeLabel': 'Log out {client}',
    'sessions.revokeQuestion': 'Log it out?',
    'sessions.loading': 'Loading…',
    'sessions.loadFailed': 'The sessions could not be loaded.',
    'sessions.gone': 'That session had already ended.',

    'skip.composer': 'Skip to the message box',
    'signup.title': 'Create an account',
    'signup.name': 'Name',
    'signup.nameHint': 'Your public handle: 2–32 letters or digits of any script (민수, Émilie, alice), and _ . -. Friends add you by it.',
    'signup.email': 'Email',
    'signup.password': 'Password',
    'signup.passwordHint': '8 to 128 characters (spaces count).',
    'signup.passwordLength': 'A password is 8–128 characters long (letters of some scripts count as 2 or 3).',
    'signup.submit': 'Sign up',
    'signup.haveAccount': 'Already have an account?',
    'signup.toLogin': 'Log in',
    'signup.missing': 'Fill in your name, email and password.',
    'signup.nameLength': 'A name is 2–32 characters long.',
    'signup.doneTitle': 'Check your mail',
    'signup.doneMail': 'We sent a link to {email}. Open it to create your account, then log in here.',
    'signup.doneLog': 'This server has no mail server configured, so the link for {email} was written to the server\'s log (look for "mail (no SMTP server configured)"). Open that link to create your account, then log in.',
    'signup.doneToLogin': 'Go to log in',

    'notice.loggedOut': 'You logged out.',
    'notice.loggedOutOffline': 'You logged out here, but the server could not be reached to end the session there. This browser will end it as soon as it reaches the server.',
    'notice.loggedOutElsewhere': 'You logged out in another tab.',
    'notice.accountDisabled': 'This account has been disabled by an operator.',
    'notice.sessionEnded': 'Your session has ended. Please log in again.',

    'offline.reconnecting': 'Offline — reconnecting…',
    'offline.tooManySessions': 'Not connected: this account already has as many connections as the server allows (other tabs or devices). Close one, then try again.',
    'action.tryAgain': 'Try again',
    'status.online': 'online',
    'status.connecting': 'connecting…',
    'status.offline': 'offline',
    'status.offlineTitle': 'Offline: reconnecting',

    'header.back': 'Back to conversations',
    'header.logout': 'Log out',
    'nav.label': 'Conversations',
    'nav.friends': 'Friends',
    'nav.requests': {one: '{count} friend request', other: '{count} friend requests'},
    'nav.dms': 'Direct messages',
    'nav.noFriends': 'No friends yet.',
    'nav.addOne': 'Add one by name.',
    'nav.guilds': 'Guilds',
    'nav.createGuild': 'Create a guild',
    'nav.noGuilds': 'No guilds.',
    'nav.createOne': 'Create one.',
    'nav.unread': {one: '{name}, {count} unread', other: '{name}, {count} unread'},
    'title.unread': '({count}) REWIND',

    'search.label': 'Search your messages',
    'search.placeholder': 'Search messages',
    'search.clear': 'Clear the search',
    'search.title': 'Search results',
    'search.searching': 'Searching…',
    'search.needWord': 'Type a word (letters or digits) to search for.',
    'search.none': 'No messages found.',
    'search.found': {one: '{count} message found', other: '{count} messages found'},
    'search.foundMore': {one: 'The first {count} message found', other: 'The first {count} messages found'},
    'search.more': 'More results',
    'search.invalid': 'Search for up to 200 characters with at least one word (letters or digits).',
    'search.lost': 'The connection was lost before the results came. Press Enter to search again.',
    'search.notShown': 'That message could not be shown: it may have been deleted, or it is too far back in the history.',

    'welcome.title': 'Welcome',
    'welcome.text': 'Pick a conversation, or start a new one:',
    'welcome.addFriend': 'add a friend',

    'friends.title': 'Friends',
    'friends.addLabel': 'Add a friend by name',
    'friends.send': 'Send request',
    'friends.incoming': 'Requests for you',
    'friends.outgoing': 'Requests you sent',
    'friends.mine': 'Your friends',
    'friends.none': 'None.',
    'friends.noneYet': 'None yet.',
    'friends.accept': 'Accept',
    'friends.acceptLabel': 'Accept {name}',
    'friends.decline': 'Decline',
    'friends.declineLabel': 'Decline {name}',
    'friends.cancel': 'Cancel',
    'friends.cancelLabel': 'Cancel the request to {name}',
    'friends.message': 'Message',
    'friends.messageLabel': 'Message {name}',
    'friends.remove': 'Remove',
    'friends.removeConfirm': 'Remove?',

    'blocked.title': 'Blocked users',
    'blocked.hint': 'They cannot send you friend requests or messages. Guilds you share still work.',
    'blocked.none': 'Nobody.',
    'blocked.block': 'Block',
    'blocked.blockLabel': 'Block {name}',
    'blocked.blockConfirm': 'Block {name}?',
    'blocked.unblock': 'Unblock',
    'blocked.unblockLabel': 'Unblock {name}',

    'guild.newTitle': 'Create a guild',
    'guild.newText': 'A guild is a group chat. You can add your friends to it.',
    'guild.nameLabel': 'Guild name',
    'guild.create': 'Create',
    'guild.members': 'Members',
    'guild.closeMembers': 'Close the member list',
    'guild.membersCount': 'Members ({count})',
    'guild.memberCount': {one: '{count} member', other: '{count} members'},
    'guild.loadingMembers': 'Loading members…',
    'guild.you': '{name} (you)',
    'guild.owner': 'owner',
    'guild.addFriend': 'Add a friend',
    'guild.add': 'Add',
    'guild.leave': 'Leave guild',
    'guild.leaveConfirm': 'Really leave?',
    'guild.fallbackName': 'Guild',
    'guild.renameLabel': 'Rename the guild',
    'guild.rename': 'Rename',
    'guild.remove': 'Remove',
    'guild.removeLabel': 'Remove {name} from the guild',
    'guild.removeConfirm': 'Remove {name}?',
    'guild.delete': 'Delete guild',
    'guild.deleteConfirm': 'Delete {guild} for everyone?',
    'guild.removedNotice': '{name} removed you from {guild}.',
    'guild.deletedNotice': '{name} deleted {guild}.',

    'conv.messages': 'Messages',
    'conv.loadOlder': 'Load older messages',
    'conv.dm': 'Direct message',
    'conv.notFriends': 'Not friends: you can read the history',
    'conv.noLongerFriends': 'You are no longer friends with {name}: you can read your history, but not send.',
    'conv.unknownUser': 'Unknown user',
    'conv.you': 'You',
    'presence.title': 'Online status',
    'presence.label': 'Show my friends when I am online',
    'presence.online': 'Online',
    'presence.offlineError': 'You are offline: the setting was not changed.',
    'notify.title': 'Notifications',
    'notify.label': 'Show a desktop notification for each new message while REWIND is in the background',
    'notify.unsupported': 'This browser cannot show notifications.',
    'notify.denied': 'The browser blocks notifications from this site: allow them in its settings, then try again.',
    'notify.inGuild': '{name} in {guild}',
    'conv.formerMember': 'former member',
    'messages.new': 'New messages',
    'typing.one': '{name} is typing…',
    'typing.two': '{a} and {b} are typing…',
    'typing.many': 'Several people are typing…',
    'conv.loading': 'Loading messages…',
    'conv.loadWhenOnline': 'Messages load when you are back online.',
    'conv.olderFailed': 'Older messages could not be loaded.',
    'conv.failed': 'Messages could not be loaded.',
    'conv.beginning': 'This is the beginning of the conversation.',
    'conv.empty': 'No messages yet. Say hello!',

    'composer.label': 'Message',
    'composer.placeholder': 'Message',
    'composer.placeholderDm': 'Message {name}',
    'composer.placeholderGuild': 'Message #{name}',
    'composer.send': 'Send',

    'message.edited': '(edited)',
    'message.editedAt': 'Edited {date}',
    'message.edit': 'Edit',
    'message.editLabel': 'Edit your message: {text}',
    'message.deleteLabel': 'Delete your message: {text}',
    'message.editBox': 'Edit your message',
    'message.delete': 'Delete',
    'message.deleteConfirm': 'Delete?',
    'message.save': 'Save',
    'message.cancel': 'Cancel',
    'message.editHint': 'Enter to save, Esc to cancel',

    'announce.deleted': '{name} deleted a message',
    'announce.message': '{name}: {text}',
    'announce.newMessage': 'New message from {name}',
    'announce.newMessageIn': 'New message from {name} in {guild}',
    'announce.request': '{name} sent you a friend request',
    'announce.friends': 'You and {name} are now friends',
    'announce.guildDeleted': '{guild} was deleted',
    'announce.guildGone': 'You are no longer in {guild}',
    'announce.addedToGuild': '{name} added you to {guild}',
    'announce.guildRenamed': '{name} renamed the guild to {guild}',

    'offline.notSentEdit': 'You are offline: the edit was not sent.',
    'offline.notDeleted': 'You are offline: the message was not deleted.',
    'offline.keptMessage': 'You are offline. Your message is kept here until you are back.',
    'offline.tryLater': 'You are offline. Try again when reconnected.',
    'conv.cannotSend': 'You cannot send here.',
    'composer.tooLong': 'A message is at most {max} characters; this one has {count}. Nothing was sent.',
    'outbox.sending': 'sending…',
    'outbox.notSent': 'Not sent: {reason}',
    'outbox.lost': 'Not sent — the connection was lost. It goes again once you are back.',
    'outbox.retry': 'Retry',
    'outbox.edit': 'Edit',
    'outbox.discard': 'Discard',
    'outbox.retryLabel': 'Send again: {text}',
    'outbox.editLabel': 'Edit before sending: {text}',
    'outbox.discardLabel': 'Discard the unsent message: {text}',

    // Errors, by the code the server answers with (docs/PROTOCOL.md).
    'error.generic': 'Something went wrong.',
    'error.network': 'The server cannot be reached. Check your connection.',
    'error.status': 'The server answered {status}.',
    'error.invalid_name': 'This name cannot be used. A name is 2–32 letters or digits of any script, and _ . -, starting with a letter or digit, in one script (or Latin with one other), with no invisible characters.',
    'error.name_taken': 'This name is taken, or looks too much like a name already taken.',
    'error.invalid_email': 'Enter a valid email address (local@domain.tld).',
    'error.invalid_password': 'A password is 8–128 characters long.',
    'error.invalid_credentials': 'The email or password is incorrect.',
    'error.email_not_verified': 'This email address is not verified yet: open the link in the mail we sent.',
    'error.account_disabled': 'This account has been disabled by an operator.',
    'error.rate_limited': 'Too many attempts. Try again later.',
    'error.rate_limited_after': 'Too many attempts. Try again {when}.',
    'error.storage_unavailable': 'The server could not save this right now. Nothing was changed; try again later.',
    'error.overloaded': 'The server is busy. Try again.',
    'error.internal': 'Something went wrong on the server.',
    'error.4010': 'No user has that name.',
    'error.4011': 'You cannot send a friend request to yourself.',
    'error.4012': 'You are already friends.',
    'error.4013': 'You have already sent this person a request.',
    'error.4014': 'There is no such request.',
    'error.4015': 'You are not friends with this person.',
    'error.4016': 'You blocked this person. Unblock them in Account first.',
    'error.4020': 'This conversation does not exist, or you are not in it.',
    'error.4021': 'That message no longer exists.',
    'error.4022': 'The message is too long.',
    'error.4023': 'The message contains characters that cannot be sent.',
    'error.4029': 'Slow down: try again {when}.',
    'error.4050': 'This guild does not exist, or you are not in it.',
    'error.4051': 'Only the guild\'s owner can do that.',
    'error.4052': 'The guild is full.',
    'error.4053': 'That person is already in the guild.',
    'error.4054': 'A guild name is 1–64 characters.',
    'error.5031': 'The server could not save this right now. Nothing was changed; try again later.',
    'error.5003': 'The server is busy. Try again.',
    'error.5000': 'Something went wrong on the server.',
  },

  ko: {
    'lang.label': '언어',
    'brand.tagline': '친구와 실시간으로 대화하세요.',
    'noscript': 'REWIND 웹 클라이언트를 쓰려면 JavaScript가 필요합니다.',

    'login.title': '로그인',
    'login.email': '이메일',
    'login.password': '비밀번호',
    'login.submit': '로그인',
    'login.noAccount': '아직 계정이 없나요?',
    'login.toSignup': '가입하기',
    'login.missing': '이메일과 비밀번호를 입력하세요.',
    'login.forgot': '비밀번호를 잊으셨나요?',
    'forgot.title': '비밀번호 재설정',
    'forgot.text': '계정의 이메일을 입력하세요. 새 비밀번호를 정하는 링크를 메일로 보내 드립니다.',
    'forgot.email': '이메일',
    'forgot.submit': '링크 받기',
    'forgot.missing': '이메일을 입력하세요.',
    'forgot.done': '{email}에 계정이 있다면 새 비밀번호를 정하는 링크를 보냈습니다. 링크는 한 번만, 잠시 동안만 쓸 수 있습니다.',
    'forgot.toLogin': '로그인으로 돌아가기',
    'reset.title': '새 비밀번호 정하기',
    'reset.password': '새 비밀번호',
    'reset.submit': '새 비밀번호 저장',
    'reset.askAgain': '새 링크 받기',
    'reset.linkInvalid': '이 링크는 더 이상 쓸 수 없습니다. 이미 썼거나, 더 새 링크가 있거나, 만료되었습니다. 새 링크를 받으세요.',
    'notice.passwordReset': '비밀번호가 바뀌었고 모든 세션이 로그아웃되었습니다. 새 비밀번호로 로그인하세요.',
    'nav.account': '계정',
    'account.title': '계정',
    'account.changePassword': '비밀번호 변경',
    'account.current': '현재 비밀번호',
    'account.new': '새 비밀번호',
    'account.newHint': '8–128자. 다른 기기는 로그아웃됩니다.',
    'account.submit': '비밀번호 변경',
    'account.missing': '현재 비밀번호와 새 비밀번호를 입력하세요.',
    'account.wrongCurrent': '현재 비밀번호가 올바르지 않습니다.',
    'account.done': '비밀번호가 바뀌었습니다. 다른 기기는 로그아웃되었습니다.',
    'account.deleteTitle': '계정 삭제',
    'account.deleteText': '친구, 친구 요청과 길드 멤버십이 모두 끝나고 모든 기기에서 로그아웃됩니다. 보낸 메시지는 탈퇴한 사용자의 메시지로 남습니다. 되돌릴 수 없습니다.',
    'account.deletePassword': '비밀번호',
    'account.deleteConfirm': '계정이 영구히 삭제된다는 것을 이해했습니다.',
    'account.deleteSubmit': '계정 삭제',
    'account.deleteMissing': '비밀번호를 입력하세요.',
    'account.deleteUnconfirmed': '확인란을 선택하세요.',
    'account.deleteWrong': '비밀번호가 올바르지 않습니다.',
    'notice.accountDeleted': '계정이 삭제되었습니다.',
    'user.deleted': '탈퇴한 사용자',
    'sessions.title': '세션',
    'sessions.hint': '계정이 로그인된 곳입니다. 더 이상 쓰지 않거나 모르는 기기는 로그아웃하세요.',
    'sessions.thisDevice': '이 기기',
    'sessions.unknownClient': '알 수 없는 기기',
    'sessions.times': '로그인 {created} · 마지막 접속 {lastSeen}',
    'sessions.revoke': '로그아웃',
    'sessions.revokeLabel': '{client} 로그아웃',
    'sessions.revokeQuestion': '로그아웃할까요?',
    'sessions.loading': '불러오는 중…',
    'sessions.loadFailed': '세션을 불러오지 못했습니다.',
    'sessions.gone': '그 세션은 이미 끝났습니다.',

    'skip.composer': '메시지 입력란으로 건너뛰기',
    'signup.title': '계정 만들기',
    'signup.name': '이름',
    'signup.nameHint': '다른 사람에게 보이는 이름입니다. 어느 문자든 글자나 숫자(민수, Émilie, alice)와 _ . - 로 2–32자. 친구가 이 이름으로 나를 추가합니다.',
    'signup.email': '이메일',
    'signup.password': '비밀번호',
    'signup.passwordHint': '8–128자(공백 포함).',
    'signup.passwordLength': '비밀번호는 8–128자여야 합니다(한글 등 일부 문자는 2–3자로 셉니다).',
    'signup.submit': '가입하기',
    'signup.haveAccount': '이미 계정이 있나요?',
    'signup.toLogin': '로그인',
    'signup.missing': '이름, 이메일, 비밀번호를 모두 입력하세요.',
    'signup.nameLength': '이름은 2–32자여야 합니다.',
    'signup.doneTitle': '메일을 확인하세요',
    'signup.doneMail': '{email}(으)로 링크를 보냈습니다. 링크를 열어 계정을 만든 뒤 여기서 로그인하세요.',
    'signup.doneLog': '이 서버에는 메일 서버가 설정되어 있지 않아서 {email}의 링크를 서버 로그에 기록했습니다("mail (no SMTP server configured)"를 찾아보세요). 그 링크를 열어 계정을 만든 뒤 로그인하세요.',
    'signup.doneToLogin': '로그인하러 가기',

    'notice.loggedOut': '로그아웃했습니다.',
    'notice.loggedOutOffline': '여기서는 로그아웃했지만 서버에 연결할 수 없어 서버의 세션은 아직 끝나지 않았습니다. 이 브라우저가 서버에 다시 연결되면 바로 끝냅니다.',
    'notice.loggedOutElsewhere': '다른 탭에서 로그아웃했습니다.',
    'notice.accountDisabled': '운영자가 이 계정을 사용 중지했습니다.',
    'notice.sessionEnded': '세션이 끝났습니다. 다시 로그인하세요.',

    'offline.reconnecting': '오프라인 — 다시 연결하는 중…',
    'offline.tooManySessions': '연결되지 않음: 이 계정은 서버가 허용하는 만큼 이미 연결되어 있습니다(다른 탭이나 기기). 하나를 닫고 다시 시도하세요.',
    'action.tryAgain': '다시 시도',
    'status.online': '온라인',
    'status.connecting': '연결 중…',
    'status.offline': '오프라인',
    'status.offlineTitle': '오프라인: 다시 연결하는 중',

    'header.back': '대화 목록으로',
    'header.logout': '로그아웃',
    'nav.label': '대화',
    'nav.friends': '친구',
    'nav.requests': '친구 요청 {count}개',
    'nav.dms': '1:1 대화',
    'nav.noFriends': '아직 친구가 없습니다.',
    'nav.addOne': '이름으로 추가하기',
    'nav.guilds': '길드',
    'nav.createGuild': '길드 만들기',
    'nav.noGuilds': '길드가 없습니다.',
    'nav.createOne': '만들기',
    'nav.unread': '{name}, 읽지 않은 메시지 {count}개',
    'title.unread': '({count}) REWIND',

    'search.label': '내 메시지 검색',
    'search.placeholder': '메시지 검색',
    'search.clear': '검색 지우기',
    'search.title': '검색 결과',
    'search.searching': '검색 중…',
    'search.needWord': '찾을 단어(글자나 숫자)를 입력하세요.',
    'search.none': '찾은 메시지가 없습니다.',
    'search.found': '메시지 {count}개를 찾았습니다',
    'search.foundMore': '찾은 메시지 중 처음 {count}개',
    'search.more': '결과 더 보기',
    'search.invalid': '검색어는 200자 이하이고 단어(글자나 숫자)가 하나 이상 있어야 합니다.',
    'search.lost': '결과를 받기 전에 연결이 끊겼습니다. Enter를 눌러 다시 검색하세요.',
    'search.notShown': '그 메시지를 표시할 수 없습니다. 삭제되었거나 기록에서 너무 오래전 메시지입니다.',

    'welcome.title': '환영합니다',
    'welcome.text': '대화를 고르거나 새 대화를 시작하세요:',
    'welcome.addFriend': '친구 추가하기',

    'friends.title': '친구',
    'friends.addLabel': '이름으로 친구 추가',
    'friends.send': '요청 보내기',
    'friends.incoming': '받은 친구 요청',
    'friends.outgoing': '보낸 친구 요청',
    'friends.mine': '내 친구',
    'friends.none': '없음',
    'friends.noneYet': '아직 없음',
    'friends.accept': '수락',
    'friends.acceptLabel': '{name}님의 요청 수락',
    'friends.decline': '거절',
    'friends.declineLabel': '{name}님의 요청 거절',
    'friends.cancel': '취소',
    'friends.cancelLabel': '{name}님에게 보낸 요청 취소',
    'friends.message': '메시지',
    'friends.messageLabel': '{name}님에게 메시지 보내기',
    'friends.remove': '삭제',
    'friends.removeConfirm': '삭제할까요?',

    'blocked.title': '차단한 사용자',
    'blocked.hint': '친구 요청이나 메시지를 보낼 수 없습니다. 함께 있는 길드는 그대로입니다.',
    'blocked.none': '없음',
    'blocked.block': '차단',
    'blocked.blockLabel': '{name}님 차단',
    'blocked.blockConfirm': '{name}님을 차단할까요?',
    'blocked.unblock': '차단 해제',
    'blocked.unblockLabel': '{name}님 차단 해제',

    'guild.newTitle': '길드 만들기',
    'guild.newText': '길드는 그룹 채팅입니다. 친구를 초대할 수 있습니다.',
    'guild.nameLabel': '길드 이름',
    'guild.create': '만들기',
    'guild.members': '멤버',
    'guild.closeMembers': '멤버 목록 닫기',
    'guild.membersCount': '멤버 ({count})',
    'guild.memberCount': '멤버 {count}명',
    'guild.loadingMembers': '멤버를 불러오는 중…',
    'guild.you': '{name} (나)',
    'guild.owner': '방장',
    'guild.addFriend': '친구 초대',
    'guild.add': '초대',
    'guild.leave': '길드 나가기',
    'guild.leaveConfirm': '정말 나갈까요?',
    'guild.fallbackName': '길드',
    'guild.renameLabel': '길드 이름 바꾸기',
    'guild.rename': '바꾸기',
    'guild.remove': '내보내기',
    'guild.removeLabel': '{name}님을 길드에서 내보내기',
    'guild.removeConfirm': '{name}님을 내보낼까요?',
    'guild.delete': '길드 삭제',
    'guild.deleteConfirm': '{guild} 길드를 모두에게서 삭제할까요?',
    'guild.removedNotice': '{name}님이 나를 {guild}에서 내보냈습니다.',
    'guild.deletedNotice': '{name}님이 {guild} 길드를 삭제했습니다.',

    'conv.messages': '메시지',
    'conv.loadOlder': '이전 메시지 불러오기',
    'conv.dm': '1:1 대화',
    'conv.notFriends': '친구가 아닙니다: 기록만 볼 수 있습니다',
    'conv.noLongerFriends': '{name} 님과 더 이상 친구가 아닙니다: 기록은 볼 수 있지만 보낼 수는 없습니다.',
    'conv.unknownUser': '알 수 없는 사용자',
    'conv.you': '나',
    'presence.title': '접속 상태',
    'presence.label': '내가 접속해 있을 때 친구에게 표시',
    'presence.online': '접속 중',
    'presence.offlineError': '오프라인 상태라 설정을 바꾸지 못했습니다.',
    'notify.title': '알림',
    'notify.label': 'REWIND가 백그라운드에 있을 때 새 메시지마다 데스크톱 알림 표시',
    'notify.unsupported': '이 브라우저는 알림을 표시할 수 없습니다.',
    'notify.denied': '브라우저가 이 사이트의 알림을 막고 있습니다. 브라우저 설정에서 허용한 뒤 다시 시도하세요.',
    'notify.inGuild': '{guild}의 {name}',
    'conv.formerMember': '나간 멤버',
    'messages.new': '새 메시지',
    'typing.one': '{name}님이 입력 중…',
    'typing.two': '{a}님과 {b}님이 입력 중…',
    'typing.many': '여러 명이 입력 중…',
    'conv.loading': '메시지를 불러오는 중…',
    'conv.loadWhenOnline': '다시 온라인이 되면 메시지를 불러옵니다.',
    'conv.olderFailed': '이전 메시지를 불러오지 못했습니다.',
    'conv.failed': '메시지를 불러오지 못했습니다.',
    'conv.beginning': '대화의 처음입니다.',
    'conv.empty': '아직 메시지가 없습니다. 인사를 건네 보세요!',

    'composer.label': '메시지',
    'composer.placeholder': '메시지 입력',
    'composer.placeholderDm': '{name}님에게 메시지 보내기',
    'composer.placeholderGuild': '#{name}에 메시지 보내기',
    'composer.send': '보내기',

    'message.edited': '(수정됨)',
    'message.editedAt': '{date}에 수정됨',
    'message.edit': '수정',
    'message.editLabel': '내 메시지 고치기: {text}',
    'message.deleteLabel': '내 메시지 삭제: {text}',
    'message.editBox': '메시지 수정',
    'message.delete': '삭제',
    'message.deleteConfirm': '삭제할까요?',
    'message.save': '저장',
    'message.cancel': '취소',
    'message.editHint': 'Enter로 저장, Esc로 취소',

    'announce.deleted': '{name}님이 메시지를 삭제했습니다',
    'announce.message': '{name}: {text}',
    'announce.newMessage': '{name}님의 새 메시지',
    'announce.newMessageIn': '{guild}에 {name}님의 새 메시지',
    'announce.request': '{name}님이 친구 요청을 보냈습니다',
    'announce.friends': '이제 {name}님과 친구입니다',
    'announce.guildDeleted': '{guild} 길드가 삭제되었습니다',
    'announce.guildGone': '이제 {guild} 길드의 멤버가 아닙니다',
    'announce.addedToGuild': '{name}님이 나를 {guild}에 초대했습니다',
    'announce.guildRenamed': '{name}님이 길드 이름을 {guild}(으)로 바꿨습니다',

    'offline.notSentEdit': '오프라인이라 수정 내용을 보내지 못했습니다.',
    'offline.notDeleted': '오프라인이라 메시지를 삭제하지 못했습니다.',
    'offline.keptMessage': '오프라인입니다. 다시 연결될 때까지 메시지는 여기 남아 있습니다.',
    'offline.tryLater': '오프라인입니다. 다시 연결되면 시도하세요.',
    'conv.cannotSend': '여기에는 메시지를 보낼 수 없습니다.',
    'composer.tooLong': '메시지는 최대 {max}자입니다. 이 메시지는 {count}자입니다. 보내지 않았습니다.',
    'outbox.sending': '보내는 중…',
    'outbox.notSent': '보내지 못함: {reason}',
    'outbox.lost': '보내지 못함 — 연결이 끊겼습니다. 다시 연결되면 다시 보냅니다.',
    'outbox.retry': '다시 보내기',
    'outbox.edit': '고치기',
    'outbox.discard': '버리기',
    'outbox.retryLabel': '다시 보내기: {text}',
    'outbox.editLabel': '고쳐서 보내기: {text}',
    'outbox.discardLabel': '보내지 못한 메시지 버리기: {text}',

    'error.generic': '문제가 생겼습니다.',
    'error.network': '서버에 연결할 수 없습니다. 네트워크 연결을 확인하세요.',
    'error.status': '서버가 {status} 오류로 응답했습니다.',
    'error.invalid_name': '이 이름은 쓸 수 없습니다. 이름은 어느 문자든 글자나 숫자와 _ . - 로 된 2–32자이고, 글자나 숫자로 시작해야 하며, 한 가지 문자 체계(또는 라틴 문자와 다른 한 가지)만 쓰고 보이지 않는 문자는 쓸 수 없습니다.',
    'error.name_taken': '이미 사용 중인 이름이거나, 사용 중인 이름과 너무 비슷합니다.',
    'error.invalid_email': '올바른 이메일 주소를 입력하세요(local@domain.tld).',
    'error.invalid_password': '비밀번호는 8–128자여야 합니다.',
    'error.invalid_credentials': '이메일 또는 비밀번호가 올바르지 않습니다.',
    'error.email_not_verified': '아직 인증되지 않은 이메일 주소입니다. 보내 드린 메일의 링크를 여세요.',
    'error.account_disabled': '운영자가 이 계정을 사용 중지했습니다.',
    'error.rate_limited': '시도가 너무 많습니다. 잠시 후 다시 시도하세요.',
    'error.rate_limited_after': '시도가 너무 많습니다. {when} 다시 시도하세요.',
    'error.storage_unavailable': '지금은 서버가 저장할 수 없습니다. 바뀐 것은 없습니다. 잠시 후 다시 시도하세요.',
    'error.overloaded': '서버가 바쁩니다. 다시 시도하세요.',
    'error.internal': '서버에 문제가 생겼습니다.',
    'error.4010': '그 이름의 사용자가 없습니다.',
    'error.4011': '자기 자신에게는 친구 요청을 보낼 수 없습니다.',
    'error.4012': '이미 친구입니다.',
    'error.4013': '이미 친구 요청을 보냈습니다.',
    'error.4014': '그런 친구 요청이 없습니다.',
    'error.4015': '이 사람과 친구가 아닙니다.',
    'error.4016': '차단한 사람입니다. 먼저 계정에서 차단을 해제하세요.',
    'error.4020': '없는 대화이거나 참여하지 않은 대화입니다.',
    'error.4021': '이미 없는 메시지입니다.',
    'error.4022': '메시지가 너무 깁니다.',
    'error.4023': '보낼 수 없는 문자가 들어 있습니다.',
    'error.4029': '너무 빠릅니다. {when} 다시 시도하세요.',
    'error.4050': '없는 길드이거나 참여하지 않은 길드입니다.',
    'error.4051': '길드의 방장만 할 수 있습니다.',
    'error.4052': '길드가 꽉 찼습니다.',
    'error.4053': '이미 길드의 멤버입니다.',
    'error.4054': '길드 이름은 1–64자여야 합니다.',
    'error.5031': '지금은 서버가 저장할 수 없습니다. 바뀐 것은 없습니다. 잠시 후 다시 시도하세요.',
    'error.5003': '서버가 바쁩니다. 다시 시도하세요.',
    'error.5000': '서버에 문제가 생겼습니다.',
  },
};

function pick(stored, preferred) {
  if (LANGUAGES.includes(stored)) return stored;
  for (const tag of preferred || []) {
    const primary = String(tag).toLowerCase().split('-')[0];
    if (LANGUAGES.includes(primary)) return primary;
  }
  return 'en';
}

function storedChoice() {
  try {
    return localStorage.getItem(LANG_KEY);
  } catch {
    return null;
  }
}

let lang = pick(storedChoice(), navigator.languages || [navigator.language]);
let formats = null;

export function language() {
  return lang;
}

// The locale for Intl: the browser's own tag for the chosen language ("en-GB" keeps its
// 24-hour clock), else the bare language.
function locale() {
  for (const tag of navigator.languages || []) {
    if (String(tag).toLowerCase().split('-')[0] === lang) return tag;
  }
  return lang;
}

export function has(key) {
  return Object.hasOwn(CATALOGS[lang], key) || Object.hasOwn(CATALOGS.en, key);
}

export function t(key, params = {}) {
  let value = CATALOGS[lang][key] ?? CATALOGS.en[key];
  if (value === undefined) {
    console.warn(`no string for ${key}`);
    return key;
  }
  if (typeof value === 'object') {
    const form = new Intl.PluralRules(lang).select(Number(params.count));
    value = value[form] ?? value.other;
  }
  return value.replace(/\{(\w+)\}/g, (m, name) => (name in params ? String(params[name]) : m));
}

// Intl formatters for the chosen language, in the browser's time zone.
export function fmt() {
  if (!formats || formats.lang !== lang) {
    const loc = locale();
    formats = {
      lang,
      time: new Intl.DateTimeFormat(loc, {hour: '2-digit', minute: '2-digit'}),
      dateTime: new Intl.DateTimeFormat(loc, {month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit'}),
      full: new Intl.DateTimeFormat(loc, {dateStyle: 'full', timeStyle: 'medium'}),
      day: new Intl.DateTimeFormat(loc, {dateStyle: 'full'}),
      relative: new Intl.RelativeTimeFormat(loc, {numeric: 'always'}),
    };
  }
  return formats;
}

// "in 30 seconds", "30초 후": when to try again.
export function inSeconds(seconds) {
  return fmt().relative.format(Math.max(1, Math.ceil(seconds)), 'second');
}

// Sets an element's text (and the attributes named) from keys, and remembers the keys so
// that translate() can redo it in another language.
export function setText(el, key, params) {
  el.dataset.i18n = key;
  if (params) el.dataset.i18nParams = JSON.stringify(params);
  else delete el.dataset.i18nParams;
  el.textContent = t(key, params);
}

// Text that is not the client's own (a name, the server's message for an unknown code).
export function setRawText(el, text) {
  delete el.dataset.i18n;
  delete el.dataset.i18nParams;
  el.textContent = text;
}

export function setAttrs(el, attrs, params) {
  el.dataset.i18nAttrs = Object.entries(attrs).map(([a, k]) => `${a}=${k}`).join(';');
  if (params) el.dataset.i18nParams = JSON.stringify(params);
  for (const [a, k] of Object.entries(attrs)) el.setAttribute(a, t(k, params));
}

// Re-translates every element under `root` that holds keys.
export function translate(root = document) {
  document.documentElement.lang = lang;
  for (const el of root.querySelectorAll('[data-i18n], [data-i18n-attrs]')) {
    const params = el.dataset.i18nParams ? JSON.parse(el.dataset.i18nParams) : undefined;
    if (el.dataset.i18n) el.textContent = t(el.dataset.i18n, params);
    for (const pair of (el.dataset.i18nAttrs || '').split(';')) {
      const [attr, key] = pair.split('=');
      if (attr && key) el.setAttribute(attr, t(key, params));
    }
  }
}

// Chooses `next` (saved for the next visits unless `save` is false); true when it changed.
export function setLanguage(next, {save = true} = {}) {
  if (!LANGUAGES.includes(next)) return false;
  if (save) {
    try {
      localStorage.setItem(LANG_KEY, next);
    } catch {
      // Private mode without storage: the choice lasts for this page.
    }
  }
  if (next === lang) return false;
  lang = next;
  return true;
}

export const LANG_STORAGE_KEY = LANG_KEY;
